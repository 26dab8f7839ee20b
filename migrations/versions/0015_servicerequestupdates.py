"""The index of Open311's ``servicerequestupdates`` (issue 19): a case's status changes in a time window.

Partial, so that what intake and bulk imports write in bulk pays nothing for it: a case's first event (its
creation, which is the request itself and no update) has no ``from_status``. (Who filed a report, which the
update and request reads are scoped by, is migration 0014's ``report.filed_by``.)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_case_event_update_at ON case_event (at) WHERE from_status IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX ix_case_event_update_at")

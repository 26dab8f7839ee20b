"""Who filed a report: the API key (``key_id``) or the signed-in user (``user_id``) that posted it.

Issue 17, defect 1: an intake key read every report (Open311 ``requests.json``, ``requests/{id}.json``,
``GET /api/v1/reports/{id}``). An intake system may read back only the reports it posted itself; the report now
records its poster, and every read path applies one rule (``api/reports/access.py``). Reports written before
this migration, and bulk imports (the CLI, no principal), have neither: no intake key sees them.

The first index serves an intake system reading its own reports newest first; the second, Open311's
``servicerequestupdates`` (issue 19: a case's status changes in a time window). Both are partial, so that what
intake and bulk imports write in bulk pays nothing for them: imported reports have no poster, and a case's first
event (its creation) has no ``from_status``.

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-07
"""

from alembic import op

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        ALTER TABLE report ADD COLUMN key_id bigint, ADD COLUMN user_id bigint;
        CREATE INDEX ix_report_key_reported_at ON report (key_id, reported_at) WHERE key_id IS NOT NULL;
        CREATE INDEX ix_case_event_update_at ON case_event (at) WHERE from_status IS NOT NULL;
    """)


def downgrade() -> None:
    op.execute("""
        DROP INDEX ix_case_event_update_at;
        DROP INDEX ix_report_key_reported_at;
        ALTER TABLE report DROP COLUMN key_id, DROP COLUMN user_id;
    """)

"""Who filed a report: the API key (``key_id``) or the signed-in user (``user_id``) that posted it.

Issue 17, defect 1: an intake key read every report (Open311 ``requests.json``, ``requests/{id}.json``,
``GET /api/v1/reports/{id}``). An intake system may read back only the reports it posted itself; the report now
records its poster, and every read path applies one rule (``api/reports/access.py``). Reports written before
this migration, and bulk imports (the CLI, no principal), have neither: no intake key sees them.

The index serves an intake system reading its own reports newest first; it is partial, so that bulk imports
(a million rows without a poster) pay nothing for it.

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
    """)


def downgrade() -> None:
    op.execute("""
        DROP INDEX ix_report_key_reported_at;
        ALTER TABLE report DROP COLUMN key_id, DROP COLUMN user_id;
    """)

"""Two report indexes that every row paid for and no query used.

Measured on the bench database by COPYing the same million archived reports into ``report`` with one index at
a time (``bench/routing.py``'s archive; issue 4, bulk import): each index costs its upkeep on every insert,
live or imported.

* ``uq_report_source_idempotency_key`` was a unique constraint on ``(source, idempotency_key)``, so every
  report without a key (a bulk import's million, most hotline reports) added a ``(source, NULL)`` entry that
  can never conflict: 2.9 s of the million. It becomes a unique index over the rows that have a key; the
  uniqueness is the same (two NULLs never conflicted), the intake's ``ON CONFLICT DO NOTHING`` names no
  target and so still sees it, and a replay's lookup ``idempotency_key = :k`` implies the index's predicate.
* ``ix_report_category`` (``category_code`` alone, about twenty values): 2.9 s of the million. No query
  reads reports by category alone: the list's category filter comes with the time order it is read in
  (``ix_report_reported_at``), the duplicate check reads cases near a point (``ix_report_location``), and the
  counts by category read the roll-ups; a category is deleted only when no report refers to it, a
  rare administrator's act that may scan.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        ALTER TABLE report DROP CONSTRAINT uq_report_source_idempotency_key;
        CREATE UNIQUE INDEX uq_report_source_idempotency_key ON report (source, idempotency_key)
            WHERE idempotency_key IS NOT NULL;
        DROP INDEX ix_report_category;
    """)


def downgrade() -> None:
    op.execute("""
        CREATE INDEX ix_report_category ON report (category_code);
        DROP INDEX uq_report_source_idempotency_key;
        ALTER TABLE report ADD CONSTRAINT uq_report_source_idempotency_key UNIQUE (source, idempotency_key);
    """)

"""Re-routing open cases waits for the moment a future-dated layout comes in force.

* ``layout_publish.reroute_pending``: the publish asked to re-route open cases and its layout is not in force
  yet; api/ops/due.py re-routes them at ``effective_from`` and clears the flag (``rerouted_cases`` then says how
  many moved). Before this, a publish for tomorrow moved open cases to grids that did not exist yet.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE layout_publish ADD COLUMN reroute_pending boolean NOT NULL DEFAULT false;
CREATE INDEX ix_layout_publish_reroute_pending ON layout_publish (effective_from) WHERE reroute_pending;
COMMENT ON COLUMN layout_publish.reroute_pending IS
  'open cases are to be re-routed to this layout when it comes in force (api/ops/due.py)';
"""

DOWNGRADE = """
DROP INDEX IF EXISTS ix_layout_publish_reroute_pending;
ALTER TABLE layout_publish DROP COLUMN IF EXISTS reroute_pending;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)

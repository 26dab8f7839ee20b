"""A publish records the grids accepted with nobody on duty, and a scheduled publish can be cancelled.

* ``layout_publish.unstaffed``: the grids (code, name, households) the publisher accepted with nobody on duty,
  and ``unstaffed_reason`` why (issue 24: a split's new grid opened cases with no assignee, unannounced).
* ``layout_publish.cancelled_at``, ``cancelled_by``, ``cancel_reason``: a publish withdrawn before its moment
  (the layout went back to draft, the layout it was to replace runs on); its pending staff moves and re-routing
  are never applied.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE layout_publish
    ADD COLUMN unstaffed jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN unstaffed_reason text CHECK (unstaffed_reason IS NULL OR btrim(unstaffed_reason) <> ''),
    ADD COLUMN cancelled_at timestamptz,
    ADD COLUMN cancelled_by text,
    ADD COLUMN cancel_reason text;
COMMENT ON COLUMN layout_publish.unstaffed IS 'grids accepted with nobody on duty: [{code, name, households}]';
COMMENT ON COLUMN layout_publish.cancelled_at IS 'the publish was withdrawn before its effective moment';
"""

DOWNGRADE = """
ALTER TABLE layout_publish DROP COLUMN IF EXISTS unstaffed, DROP COLUMN IF EXISTS unstaffed_reason,
    DROP COLUMN IF EXISTS cancelled_at, DROP COLUMN IF EXISTS cancelled_by, DROP COLUMN IF EXISTS cancel_reason;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)

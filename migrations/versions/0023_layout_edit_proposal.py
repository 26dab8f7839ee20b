"""Proposals (issue 20): a proposed layout applied to a draft is one edit of the planner's edit log, recorded with
op ``apply_proposal`` (so undo restores the community's grids in one step). Proposals themselves are not stored:
they are recomputed deterministically from their id (community, norm, region count, seed, draft revision).

Revision ID: 0023
Revises: 0024
Create Date: 2026-12-07
"""

from alembic import op

revision = "0023"
down_revision = "0024"
branch_labels = None
depends_on = None

_OPS = "'update_geometry', 'split', 'merge', 'create', 'delete', 'update_attrs', 'assign_building', 'undo'"


def upgrade() -> None:
    op.execute(f"""
        ALTER TABLE layout_edit DROP CONSTRAINT layout_edit_op_check;
        ALTER TABLE layout_edit ADD CONSTRAINT layout_edit_op_check CHECK (op IN ({_OPS}, 'apply_proposal'));
    """)


def downgrade() -> None:
    op.execute(f"""
        DELETE FROM layout_edit WHERE op = 'apply_proposal';
        ALTER TABLE layout_edit DROP CONSTRAINT layout_edit_op_check;
        ALTER TABLE layout_edit ADD CONSTRAINT layout_edit_op_check CHECK (op IN ({_OPS}));
    """)

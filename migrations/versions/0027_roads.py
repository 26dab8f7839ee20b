"""Roads as a layer (issue 20): the ``road`` table of the address registry (migration 0005: one named centre
line a road, used to resolve "A路与B街交叉口") becomes the road network too, imported and exported like any
layer (``gridmap import roads``) and walked by network catchments (geo/network.py). It gains a code (the key
of imports), a kind and free properties; a road crossing several streets is one row (a MultiLineString).

Revision ID: 0027
Revises: 0025
Create Date: 2026-12-08
"""

from alembic import op

revision = "0027"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        -- a road added without a code (the address registry's own inserts) is numbered X00001, X00002 …
        CREATE SEQUENCE road_code_seq;
        ALTER TABLE road ADD COLUMN code varchar(32) NOT NULL
            DEFAULT ('X' || lpad(nextval('road_code_seq')::text, 5, '0'));
        ALTER TABLE road ADD CONSTRAINT road_code_key UNIQUE (code);
        ALTER TABLE road ADD COLUMN kind varchar(16) NOT NULL DEFAULT 'primary'
            CHECK (kind IN ('primary', 'secondary', 'lane', 'footway', 'other'));
        ALTER TABLE road ADD COLUMN properties jsonb NOT NULL DEFAULT '{}'::jsonb;
        COMMENT ON TABLE road IS 'named road centre lines: address intersections and the walking network (issue 20)';
    """)


def downgrade() -> None:
    op.execute("""
        ALTER TABLE road DROP COLUMN properties;
        ALTER TABLE road DROP COLUMN kind;
        ALTER TABLE road DROP COLUMN code;
        DROP SEQUENCE road_code_seq;
    """)

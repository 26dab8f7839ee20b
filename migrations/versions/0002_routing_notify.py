"""Change notifications for the in-memory routing index, and request fingerprints for idempotent intake.

The routing index is a cache of the database: any change to grids, layouts or grid staff sends
``NOTIFY gridmap_layout`` (payload: the layout id, or ``*``), and every process drops what it
cached. NOTIFY is transactional and de-duplicated per transaction, so a bulk import of a thousand
grids sends one notification, after it commits.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE FUNCTION gridmap_notify_layout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'grid' THEN
        PERFORM pg_notify('gridmap_layout', COALESCE(NEW.layout_id, OLD.layout_id)::text);
    ELSIF TG_TABLE_NAME = 'grid_layout' THEN
        PERFORM pg_notify('gridmap_layout', COALESCE(NEW.id, OLD.id)::text);
    ELSE
        PERFORM pg_notify('gridmap_layout', '*');
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER tr_grid_notify AFTER INSERT OR UPDATE OR DELETE ON grid
    FOR EACH ROW EXECUTE FUNCTION gridmap_notify_layout();
CREATE TRIGGER tr_grid_layout_notify AFTER INSERT OR UPDATE OR DELETE ON grid_layout
    FOR EACH ROW EXECUTE FUNCTION gridmap_notify_layout();
CREATE TRIGGER tr_person_notify AFTER INSERT OR UPDATE OR DELETE ON person
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_notify_layout();
CREATE TRIGGER tr_area_notify AFTER INSERT OR UPDATE OR DELETE ON community
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_notify_layout();

-- A retry must carry the same request as the first attempt; a different body under the same
-- idempotency key is a client bug that deserves a 409, not a silent replay.
ALTER TABLE report ADD COLUMN request_hash varchar(64);
ALTER TABLE report ADD COLUMN crs_assumed text;
"""

DOWNGRADE = """
ALTER TABLE report DROP COLUMN IF EXISTS crs_assumed;
ALTER TABLE report DROP COLUMN IF EXISTS request_hash;
DROP TRIGGER IF EXISTS tr_area_notify ON community;
DROP TRIGGER IF EXISTS tr_person_notify ON person;
DROP TRIGGER IF EXISTS tr_grid_layout_notify ON grid_layout;
DROP TRIGGER IF EXISTS tr_grid_notify ON grid;
DROP FUNCTION IF EXISTS gridmap_notify_layout();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)

"""The map wall: case heat roll-ups kept by triggers, and change notices for cached vector tiles.

The wall's heatmap bins cases in Web Mercator cells. Scanning every case for every viewport does not
scale (10 million cases), so two roll-ups count cases per z17 cell (about 230 m in Beijing) and per
(category, status, source):

* ``case_heat_day``  per local (Asia/Shanghai) day, for the whole days of a time window;
* ``case_heat_hour`` per hour, for the partial days at the window's ends.

The minutes at either end of a window come from the raw tables (see ``api/wall/heat.py``), so a count
is exact for any window. Statement-level triggers with transition tables keep both roll-ups right on
INSERT / UPDATE / DELETE of ``cases`` (one aggregated upsert per statement, so a COPY of 50,000 cases
costs one statement, not 50,000). ``gridmap_heat_rebuild()`` recomputes them from scratch.

A cell's key is its tile column/row at zoom 17 (``gridmap_cell_x/y``); a coarser bin is a right shift.

Building changes send ``NOTIFY gridmap_tiles, 'buildings'`` so that cached building tiles are dropped
(grid changes already send ``gridmap_layout``, migration 0002).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE FUNCTION gridmap_cell_x(lon double precision) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN floor((lon + 180.0) / 360.0 * 131072)::integer;
CREATE FUNCTION gridmap_cell_y(lat double precision) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN floor((1.0 - ln(tan(radians(lat)) + 1.0 / cos(radians(lat))) / pi()) / 2.0 * 131072)::integer;
-- The local day of a report (governance days are Beijing days).
CREATE FUNCTION gridmap_local_day(t timestamptz) RETURNS date
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN (t AT TIME ZONE 'Asia/Shanghai')::date;

CREATE TABLE case_heat_day (
    day           date NOT NULL,
    cx            integer NOT NULL,
    cy            integer NOT NULL,
    category_code varchar(16) NOT NULL,
    status        varchar(16) NOT NULL,
    source        varchar(32) NOT NULL,
    n             integer NOT NULL,
    PRIMARY KEY (day, cx, cy, category_code, status, source)
);
CREATE TABLE case_heat_hour (
    hour          timestamptz NOT NULL,
    cx            integer NOT NULL,
    cy            integer NOT NULL,
    category_code varchar(16) NOT NULL,
    status        varchar(16) NOT NULL,
    source        varchar(32) NOT NULL,
    n             integer NOT NULL,
    PRIMARY KEY (hour, cx, cy, category_code, status, source)
);
COMMENT ON TABLE case_heat_day IS 'Cases per local day, z17 cell, category, status, source (kept by triggers on cases)';
COMMENT ON TABLE case_heat_hour IS 'Cases per hour, z17 cell, category, status, source (kept by triggers on cases)';

-- Add signed deltas (rows of report_id, category_code, status, d) to both roll-ups (a data-modifying
-- WITH runs to completion whether or not it is referenced).
CREATE FUNCTION gridmap_heat_add(deltas jsonb) RETURNS void LANGUAGE sql AS $$
    WITH d AS (
        SELECT r.reported_at, gridmap_cell_x(ST_X(r.location)) AS cx, gridmap_cell_y(ST_Y(r.location)) AS cy,
               coalesce(x.category_code, '') AS category_code, x.status, r.source, x.d
        FROM jsonb_to_recordset(deltas) AS x(report_id bigint, category_code text, status text, d integer)
        JOIN report r ON r.id = x.report_id
        WHERE r.location IS NOT NULL
    ), byday AS (
        INSERT INTO case_heat_day AS h (day, cx, cy, category_code, status, source, n)
        SELECT gridmap_local_day(reported_at), cx, cy, category_code, status, source, sum(d)
        FROM d GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(d) <> 0 ORDER BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (day, cx, cy, category_code, status, source) DO UPDATE SET n = h.n + excluded.n
    )
    INSERT INTO case_heat_hour AS h (hour, cx, cy, category_code, status, source, n)
    SELECT date_trunc('hour', reported_at), cx, cy, category_code, status, source, sum(d)
    FROM d
    GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(d) <> 0 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (hour, cx, cy, category_code, status, source) DO UPDATE SET n = h.n + excluded.n;
$$;

CREATE FUNCTION gridmap_heat_on_cases() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    deltas jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT jsonb_agg(jsonb_build_object('report_id', report_id, 'category_code', category_code,
                                            'status', status, 'd', 1)) INTO deltas FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT jsonb_agg(jsonb_build_object('report_id', report_id, 'category_code', category_code,
                                            'status', status, 'd', -1)) INTO deltas FROM old_rows;
    ELSE
        -- Only rows whose counted attributes changed move between roll-up rows.
        SELECT jsonb_agg(jsonb_build_object('report_id', report_id, 'category_code', category_code,
                                            'status', status, 'd', d)) INTO deltas
        FROM (
            SELECT o.report_id, o.category_code, o.status, -1 AS d
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE (o.report_id, o.category_code, o.status) IS DISTINCT FROM (n.report_id, n.category_code, n.status)
            UNION ALL
            SELECT n.report_id, n.category_code, n.status, 1
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE (o.report_id, o.category_code, o.status) IS DISTINCT FROM (n.report_id, n.category_code, n.status)
        ) t;
    END IF;
    IF deltas IS NOT NULL THEN
        PERFORM gridmap_heat_add(deltas);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER tr_cases_heat_ins AFTER INSERT ON cases
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridmap_heat_on_cases();
CREATE TRIGGER tr_cases_heat_upd AFTER UPDATE ON cases
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridmap_heat_on_cases();
CREATE TRIGGER tr_cases_heat_del AFTER DELETE ON cases
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION gridmap_heat_on_cases();

-- Recompute both roll-ups from the cases (after a bulk load with the triggers disabled).
CREATE FUNCTION gridmap_heat_rebuild() RETURNS void LANGUAGE sql AS $$
    TRUNCATE case_heat_day, case_heat_hour;
    INSERT INTO case_heat_hour (hour, cx, cy, category_code, status, source, n)
    SELECT date_trunc('hour', r.reported_at), gridmap_cell_x(ST_X(r.location)), gridmap_cell_y(ST_Y(r.location)),
           coalesce(c.category_code, ''), c.status, r.source, count(*)
    FROM cases c JOIN report r ON r.id = c.report_id
    WHERE r.location IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3;
    INSERT INTO case_heat_day (day, cx, cy, category_code, status, source, n)
    SELECT gridmap_local_day(hour), cx, cy, category_code, status, source, sum(n)
    FROM case_heat_hour GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3;
$$;
SELECT gridmap_heat_rebuild();

-- Overdue lists and "new today" on the wall.
CREATE INDEX ix_cases_open_deadline ON cases (deadline) WHERE status NOT IN ('closed', 'rejected');
CREATE INDEX ix_cases_created_at ON cases (created_at);

CREATE FUNCTION gridmap_notify_tiles() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gridmap_tiles', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;
CREATE TRIGGER tr_building_tiles_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON building
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_notify_tiles();
"""

DOWNGRADE = """
DROP TRIGGER IF EXISTS tr_building_tiles_notify ON building;
DROP FUNCTION IF EXISTS gridmap_notify_tiles();
DROP INDEX IF EXISTS ix_cases_created_at;
DROP INDEX IF EXISTS ix_cases_open_deadline;
DROP TRIGGER IF EXISTS tr_cases_heat_del ON cases;
DROP TRIGGER IF EXISTS tr_cases_heat_upd ON cases;
DROP TRIGGER IF EXISTS tr_cases_heat_ins ON cases;
DROP FUNCTION IF EXISTS gridmap_heat_rebuild();
DROP FUNCTION IF EXISTS gridmap_heat_on_cases();
DROP FUNCTION IF EXISTS gridmap_heat_add(jsonb);
DROP TABLE IF EXISTS case_heat_hour, case_heat_day;
DROP FUNCTION IF EXISTS gridmap_local_day(timestamptz);
DROP FUNCTION IF EXISTS gridmap_cell_y(double precision);
DROP FUNCTION IF EXISTS gridmap_cell_x(double precision);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)

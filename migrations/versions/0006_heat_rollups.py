"""Smaller heat roll-ups: per (day|hour, cell) for unfiltered views, per (dimension, value, day|hour, cell)
for views with one filter.

The roll-ups of 0003 (``case_heat_day`` / ``case_heat_hour``) key every row by category, status and
source as well as the cell, so they hold almost as many rows as there are cases and a 30-day view over
10M cases reads millions of rows. Most views are unfiltered, or filtered on one dimension, so:

* ``case_heat_cell_day`` / ``case_heat_cell_hour``  (day|hour, cx, cy) → n: one row per occupied z17
  cell per day (a few thousand a day however many cases), for unfiltered views;
* ``case_heat_dim_day`` / ``case_heat_dim_hour``  (dim, val, day|hour, cx, cy) → n, where ``dim`` is
  ``'c'`` (category), ``'s'`` (status) or ``'o'`` (source): for a view filtered on exactly one dimension
  (one or several values of it);
* the full roll-ups of 0003 stay, for views that combine filters.

Cells stay z17 Web Mercator tile columns/rows (integers; a coarser bin is a right shift, so the finest
roll-up serves every zoom). Every key is a primary key ``INCLUDE (n)``: a view is an index-only range scan
over (day range, cell range). The statement-level triggers of 0003 call ``gridmap_heat_add``, which now
keeps all six tables in one statement; a status change moves a case between ``'s'`` rows (and nets to
zero in the cell tables). ``gridmap_heat_rebuild()`` recomputes all six with one scan of the cases.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE case_heat_cell_day (
    day date NOT NULL,
    cx  integer NOT NULL,
    cy  integer NOT NULL,
    n   integer NOT NULL,
    PRIMARY KEY (day, cx, cy) INCLUDE (n)
);
CREATE TABLE case_heat_cell_hour (
    hour timestamptz NOT NULL,
    cx   integer NOT NULL,
    cy   integer NOT NULL,
    n    integer NOT NULL,
    PRIMARY KEY (hour, cx, cy) INCLUDE (n)
);
CREATE TABLE case_heat_dim_day (
    dim "char" NOT NULL CHECK (dim IN ('c', 's', 'o')),
    val varchar(32) NOT NULL,
    day date NOT NULL,
    cx  integer NOT NULL,
    cy  integer NOT NULL,
    n   integer NOT NULL,
    PRIMARY KEY (dim, val, day, cx, cy) INCLUDE (n)
);
CREATE TABLE case_heat_dim_hour (
    dim  "char" NOT NULL CHECK (dim IN ('c', 's', 'o')),
    val  varchar(32) NOT NULL,
    hour timestamptz NOT NULL,
    cx   integer NOT NULL,
    cy   integer NOT NULL,
    n    integer NOT NULL,
    PRIMARY KEY (dim, val, hour, cx, cy) INCLUDE (n)
);
COMMENT ON TABLE case_heat_cell_day IS 'Cases per local day and z17 cell (kept by triggers on cases)';
COMMENT ON TABLE case_heat_cell_hour IS 'Cases per hour and z17 cell (kept by triggers on cases)';
COMMENT ON TABLE case_heat_dim_day IS
    'Cases per category (c) / status (s) / source (o) value, local day and z17 cell (kept by triggers on cases)';
COMMENT ON TABLE case_heat_dim_hour IS
    'Cases per category (c) / status (s) / source (o) value, hour and z17 cell (kept by triggers on cases)';

-- Signed deltas (rows of report_id, category_code, status, d) into all six roll-ups, one statement.
CREATE OR REPLACE FUNCTION gridmap_heat_add(deltas jsonb) RETURNS void LANGUAGE sql AS $$
    WITH d AS (
        SELECT gridmap_local_day(r.reported_at) AS day, date_trunc('hour', r.reported_at) AS hour,
               gridmap_cell_x(ST_X(r.location)) AS cx, gridmap_cell_y(ST_Y(r.location)) AS cy,
               coalesce(x.category_code, '') AS category_code, x.status, r.source, x.d
        FROM jsonb_to_recordset(deltas) AS x(report_id bigint, category_code text, status text, d integer)
        JOIN report r ON r.id = x.report_id
        WHERE r.location IS NOT NULL
    ), dims AS (
        SELECT d.day, d.hour, d.cx, d.cy, v.dim, v.val, d.d
        FROM d CROSS JOIN LATERAL (VALUES ('c'::"char", d.category_code), ('s', d.status), ('o', d.source))
            AS v(dim, val)
    ), full_day AS (
        INSERT INTO case_heat_day AS h (day, cx, cy, category_code, status, source, n)
        SELECT day, cx, cy, category_code, status, source, sum(d)
        FROM d GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(d) <> 0 ORDER BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (day, cx, cy, category_code, status, source) DO UPDATE SET n = h.n + excluded.n
    ), full_hour AS (
        INSERT INTO case_heat_hour AS h (hour, cx, cy, category_code, status, source, n)
        SELECT hour, cx, cy, category_code, status, source, sum(d)
        FROM d GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(d) <> 0 ORDER BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (hour, cx, cy, category_code, status, source) DO UPDATE SET n = h.n + excluded.n
    ), cell_day AS (
        INSERT INTO case_heat_cell_day AS h (day, cx, cy, n)
        SELECT day, cx, cy, sum(d) FROM d GROUP BY 1, 2, 3 HAVING sum(d) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (day, cx, cy) DO UPDATE SET n = h.n + excluded.n
    ), cell_hour AS (
        INSERT INTO case_heat_cell_hour AS h (hour, cx, cy, n)
        SELECT hour, cx, cy, sum(d) FROM d GROUP BY 1, 2, 3 HAVING sum(d) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (hour, cx, cy) DO UPDATE SET n = h.n + excluded.n
    ), dim_day AS (
        INSERT INTO case_heat_dim_day AS h (dim, val, day, cx, cy, n)
        SELECT dim, val, day, cx, cy, sum(d) FROM dims GROUP BY 1, 2, 3, 4, 5 HAVING sum(d) <> 0
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (dim, val, day, cx, cy) DO UPDATE SET n = h.n + excluded.n
    )
    INSERT INTO case_heat_dim_hour AS h (dim, val, hour, cx, cy, n)
    SELECT dim, val, hour, cx, cy, sum(d) FROM dims GROUP BY 1, 2, 3, 4, 5 HAVING sum(d) <> 0
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (dim, val, hour, cx, cy) DO UPDATE SET n = h.n + excluded.n;
$$;

-- Recompute all six roll-ups: one scan of the cases into the full hourly roll-up, the rest from it.
CREATE OR REPLACE FUNCTION gridmap_heat_rebuild() RETURNS void LANGUAGE sql AS $$
    TRUNCATE case_heat_day, case_heat_hour, case_heat_cell_day, case_heat_cell_hour, case_heat_dim_day,
             case_heat_dim_hour;
    INSERT INTO case_heat_hour (hour, cx, cy, category_code, status, source, n)
    SELECT date_trunc('hour', r.reported_at), gridmap_cell_x(ST_X(r.location)), gridmap_cell_y(ST_Y(r.location)),
           coalesce(c.category_code, ''), c.status, r.source, count(*)
    FROM cases c JOIN report r ON r.id = c.report_id
    WHERE r.location IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3;
    INSERT INTO case_heat_day (day, cx, cy, category_code, status, source, n)
    SELECT gridmap_local_day(hour), cx, cy, category_code, status, source, sum(n)
    FROM case_heat_hour GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3;
    INSERT INTO case_heat_cell_hour (hour, cx, cy, n)
    SELECT hour, cx, cy, sum(n) FROM case_heat_hour GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
    INSERT INTO case_heat_cell_day (day, cx, cy, n)
    SELECT gridmap_local_day(hour), cx, cy, sum(n) FROM case_heat_cell_hour GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
    INSERT INTO case_heat_dim_hour (dim, val, hour, cx, cy, n)
    SELECT v.dim, v.val, h.hour, h.cx, h.cy, sum(h.n)
    FROM case_heat_hour h
    CROSS JOIN LATERAL (VALUES ('c'::"char", h.category_code), ('s', h.status), ('o', h.source)) AS v(dim, val)
    GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5;
    INSERT INTO case_heat_dim_day (dim, val, day, cx, cy, n)
    SELECT dim, val, gridmap_local_day(hour), cx, cy, sum(n)
    FROM case_heat_dim_hour GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5;
$$;
SELECT gridmap_heat_rebuild();
"""

# The functions as migration 0003 left them.
DOWNGRADE = r"""
CREATE OR REPLACE FUNCTION gridmap_heat_add(deltas jsonb) RETURNS void LANGUAGE sql AS $$
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
CREATE OR REPLACE FUNCTION gridmap_heat_rebuild() RETURNS void LANGUAGE sql AS $$
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
DROP TABLE IF EXISTS case_heat_dim_hour, case_heat_dim_day, case_heat_cell_hour, case_heat_cell_day;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)

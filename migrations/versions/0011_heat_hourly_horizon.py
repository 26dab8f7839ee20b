"""The hourly heat roll-ups cover a recent horizon only; older partial days are counted from the cases.

The hourly roll-ups (``case_heat_hour``, ``case_heat_cell_hour``, ``case_heat_dim_hour``) exist only to answer
the partial days at a window's edges (api/wall/heat.py). Every preset window of the wall (1 h, today, 7 and
30 days) has its edges in the last month, yet a bulk import of last year's archive wrote about as many hour
rows as day rows: more than half of the import's roll-up writes (issue 4). So:

* ``heat_hourly_horizon.since``: the hourly roll-ups are complete for every hour at or after it, and are not
  read before it; api/wall/heat.py counts a partial day before it from the raw cases (at most a day of
  cases per window edge, by the ``reported_at`` index), so every count stays exact.
* It starts at ``-infinity`` (nothing changes until it moves) and only ever moves forward:
  ``gridmap_heat_prune_hours(target)`` (called by the due-work thread, api/ops/due.py, with
  the local midnight ``GRIDMAP_HEAT_HOURLY_DAYS`` days ago, and by ``gridmap import reports`` before an
  import) advances it and, one call later, deletes the hour rows before it. The lag lets a wall query that
  read the old horizon a moment ago still find its hour rows. Moving it forward is always safe (readers go
  to the raw cases); lowering it would claim hours nobody wrote, so nothing does (a larger setting applies
  from then on, as the horizon catches up).
* ``gridmap_heat_add`` (the live triggers), ``gridmap_heat_add_cases`` and ``gridmap_heat_rebuild`` write
  hour rows only at or after the horizon; day rows as before.
* ``gridmap_heat_add_agg()`` adds a pre-aggregated temporary table ``pg_temp.gridmap_heat_f`` (day, hour,
  cell, category, status, source, n; ``hour`` NULL for rows before the horizon) to all six roll-ups: the
  bulk import aggregates its cases in numpy and COPYs them there, instead of joining a million cases back
  to their reports (api/reports/bulk.py). ``gridmap_heat_add_cases`` builds the same table from case ids.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""


from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SINCE = "(SELECT since FROM heat_hourly_horizon)"

_TABLES = {
    # table: (key columns, source aggregate, hourly)
    "case_heat_day": ("day, cx, cy, category_code, status, source", "f", False),
    "case_heat_hour": ("hour, cx, cy, category_code, status, source", "f", True),
    "case_heat_cell_day": ("day, cx, cy", "f", False),
    "case_heat_cell_hour": ("hour, cx, cy", "f", True),
    "case_heat_dim_day": ("dim, val, day, cx, cy", "d", False),
    "case_heat_dim_hour": ("dim, val, hour, cx, cy", "d", True),
}
_FINEST = ("case_heat_hour", "case_heat_dim_hour")


def _agg(table: str, keys: str, src: str, hourly: bool) -> str:
    # Hour rows only at or after the horizon (``horizon``, the function's variable); an hourly aggregate is
    # at its table's own grain when ``hour`` is set (the day follows from the hour): no regrouping.
    if table in _FINEST:
        return f"SELECT {keys}, n FROM pg_temp.gridmap_heat_{src} WHERE hour >= horizon"
    cond = " WHERE hour >= horizon" if hourly else ""
    return f"SELECT {keys}, sum(n)::integer AS n FROM pg_temp.gridmap_heat_{src}{cond} GROUP BY {keys}"


def _plain(table: str, keys: str, src: str, hourly: bool) -> str:
    match = " AND ".join(f"h.{c} = s.{c}" for c in (c.strip() for c in keys.split(",")))
    return f"""
        CREATE TEMP TABLE gridmap_heat_s ON COMMIT DROP AS {_agg(table, keys, src, hourly)};
        UPDATE {table} h SET n = h.n + s.n FROM pg_temp.gridmap_heat_s s WHERE {match};
        INSERT INTO {table} ({keys}, n)
        SELECT {keys}, n FROM pg_temp.gridmap_heat_s s
        WHERE NOT EXISTS (SELECT 1 FROM {table} h WHERE {match}) ORDER BY {keys};
        DROP TABLE pg_temp.gridmap_heat_s;"""


def _upsert(table: str, keys: str, src: str, hourly: bool) -> str:
    return f"""
        INSERT INTO {table} AS h ({keys}, n)
        SELECT {keys}, n FROM ({_agg(table, keys, src, hourly)}) a ORDER BY {keys}
        ON CONFLICT ({keys}) DO UPDATE SET n = h.n + excluded.n;"""


UPGRADE = rf"""
CREATE TABLE heat_hourly_horizon (
    one    boolean PRIMARY KEY DEFAULT true CHECK (one),
    since  timestamptz NOT NULL DEFAULT '-infinity',
    pruned timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO heat_hourly_horizon DEFAULT VALUES;
COMMENT ON TABLE heat_hourly_horizon IS
    'The hourly heat roll-ups are complete from since on and not read before it; hour rows before pruned are gone';

-- The live triggers' deltas (0006) with the hour rows limited to the horizon.
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
        FROM d WHERE hour >= {SINCE} GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(d) <> 0 ORDER BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (hour, cx, cy, category_code, status, source) DO UPDATE SET n = h.n + excluded.n
    ), cell_day AS (
        INSERT INTO case_heat_cell_day AS h (day, cx, cy, n)
        SELECT day, cx, cy, sum(d) FROM d GROUP BY 1, 2, 3 HAVING sum(d) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (day, cx, cy) DO UPDATE SET n = h.n + excluded.n
    ), cell_hour AS (
        INSERT INTO case_heat_cell_hour AS h (hour, cx, cy, n)
        SELECT hour, cx, cy, sum(d) FROM d WHERE hour >= {SINCE} GROUP BY 1, 2, 3 HAVING sum(d) <> 0
        ORDER BY 1, 2, 3
        ON CONFLICT (hour, cx, cy) DO UPDATE SET n = h.n + excluded.n
    ), dim_day AS (
        INSERT INTO case_heat_dim_day AS h (dim, val, day, cx, cy, n)
        SELECT dim, val, day, cx, cy, sum(d) FROM dims GROUP BY 1, 2, 3, 4, 5 HAVING sum(d) <> 0
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (dim, val, day, cx, cy) DO UPDATE SET n = h.n + excluded.n
    )
    INSERT INTO case_heat_dim_hour AS h (dim, val, hour, cx, cy, n)
    SELECT dim, val, hour, cx, cy, sum(d) FROM dims WHERE hour >= {SINCE} GROUP BY 1, 2, 3, 4, 5
    HAVING sum(d) <> 0 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (dim, val, hour, cx, cy) DO UPDATE SET n = h.n + excluded.n;
$$;

-- Add pg_temp.gridmap_heat_f (day, hour, cx, cy, category_code, status, source, n: not yet counted cases,
-- unique on its first seven columns; hour may be NULL before the horizon) to the six roll-ups, and drop it.
CREATE FUNCTION gridmap_heat_add_agg() RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    horizon timestamptz := {SINCE};
BEGIN
    DROP TABLE IF EXISTS pg_temp.gridmap_heat_d, pg_temp.gridmap_heat_s;
    CREATE TEMP TABLE gridmap_heat_d ON COMMIT DROP AS
        SELECT f.day, f.hour, f.cx, f.cy, v.dim, v.val, sum(f.n)::integer AS n
        FROM pg_temp.gridmap_heat_f f
        CROSS JOIN LATERAL (VALUES ('c'::"char", f.category_code), ('s', f.status), ('o', f.source)) AS v(dim, val)
        GROUP BY 1, 2, 3, 4, 5, 6;
    ANALYZE pg_temp.gridmap_heat_f, pg_temp.gridmap_heat_d;
    BEGIN
        {"".join(_plain(t, k, s, h) for t, (k, s, h) in _TABLES.items())}
    EXCEPTION WHEN unique_violation THEN
        -- A concurrent transaction counted one of these keys first: add with the upserts instead (0009).
        {"".join(_upsert(t, k, s, h) for t, (k, s, h) in _TABLES.items())}
    END;
    DROP TABLE pg_temp.gridmap_heat_f, pg_temp.gridmap_heat_d;
END;
$fn$;
COMMENT ON FUNCTION gridmap_heat_add_agg() IS
    'Add the pre-aggregated cases of pg_temp.gridmap_heat_f to the six heat roll-ups (hour rows from the horizon on)';

CREATE OR REPLACE FUNCTION gridmap_heat_add_cases(case_ids bigint[]) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    DROP TABLE IF EXISTS pg_temp.gridmap_heat_f;
    CREATE TEMP TABLE gridmap_heat_f ON COMMIT DROP AS
        SELECT gridmap_local_day(r.reported_at) AS day, date_trunc('hour', r.reported_at) AS hour,
               gridmap_cell_x(ST_X(r.location)) AS cx, gridmap_cell_y(ST_Y(r.location)) AS cy,
               coalesce(c.category_code, '') AS category_code, c.status, r.source, count(*)::integer AS n
        FROM unnest(case_ids) AS u(id)
        JOIN cases c ON c.id = u.id
        JOIN report r ON r.id = c.report_id
        WHERE r.location IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5, 6, 7;
    PERFORM gridmap_heat_add_agg();
END;
$fn$;

CREATE OR REPLACE FUNCTION gridmap_heat_rebuild() RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    TRUNCATE case_heat_day, case_heat_hour, case_heat_cell_day, case_heat_cell_hour, case_heat_dim_day,
             case_heat_dim_hour;
    UPDATE heat_hourly_horizon SET pruned = since;
    DROP TABLE IF EXISTS pg_temp.gridmap_heat_f;
    CREATE TEMP TABLE gridmap_heat_f ON COMMIT DROP AS
        SELECT gridmap_local_day(r.reported_at) AS day, date_trunc('hour', r.reported_at) AS hour,
               gridmap_cell_x(ST_X(r.location)) AS cx, gridmap_cell_y(ST_Y(r.location)) AS cy,
               coalesce(c.category_code, '') AS category_code, c.status, r.source, count(*)::integer AS n
        FROM cases c JOIN report r ON r.id = c.report_id
        WHERE r.location IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5, 6, 7;
    PERFORM gridmap_heat_add_agg();
END;
$fn$;

-- Move the horizon forward to ``target`` (never back), after deleting the hour rows before the horizon
-- the previous call set (one call of lag: a wall query that has just read the old horizon still finds its
-- rows). Returns the horizon, or NULL when another transaction holds it (an import): try again later.
CREATE FUNCTION gridmap_heat_prune_hours(target timestamptz) RETURNS timestamptz LANGUAGE plpgsql AS $fn$
DECLARE
    s timestamptz;
    p timestamptz;
BEGIN
    SELECT since, pruned INTO s, p FROM heat_hourly_horizon FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF p < s THEN
        DELETE FROM case_heat_hour WHERE hour < s;
        DELETE FROM case_heat_cell_hour WHERE hour < s;
        DELETE FROM case_heat_dim_hour WHERE hour < s;
        UPDATE heat_hourly_horizon SET pruned = s;
    END IF;
    IF target > s THEN
        UPDATE heat_hourly_horizon SET since = target;
        s := target;
    END IF;
    RETURN s;
END;
$fn$;
"""


#: What the downgrade puts back, as the migrations before created it (each migration carries the SQL it needs
#: rather than cutting it out of another's text): 0006's signed-delta trigger functions and rebuild, and 0009's
#: catch-up function.
_0006_DELTAS = r"""-- Signed deltas (rows of report_id, category_code, status, d) into all six roll-ups, one statement.
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
"""
_0009_FUNCTION = r"""
CREATE OR REPLACE FUNCTION gridmap_heat_add_cases(case_ids bigint[]) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    DROP TABLE IF EXISTS pg_temp.gridmap_heat_f, pg_temp.gridmap_heat_d, pg_temp.gridmap_heat_s;
    CREATE TEMP TABLE gridmap_heat_f ON COMMIT DROP AS
        SELECT gridmap_local_day(r.reported_at) AS day, date_trunc('hour', r.reported_at) AS hour,
               gridmap_cell_x(ST_X(r.location)) AS cx, gridmap_cell_y(ST_Y(r.location)) AS cy,
               coalesce(c.category_code, '') AS category_code, c.status, r.source, count(*)::integer AS n
        FROM unnest(case_ids) AS u(id)
        JOIN cases c ON c.id = u.id
        JOIN report r ON r.id = c.report_id
        WHERE r.location IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5, 6, 7;
    CREATE TEMP TABLE gridmap_heat_d ON COMMIT DROP AS
        SELECT f.day, f.hour, f.cx, f.cy, v.dim, v.val, sum(f.n)::integer AS n
        FROM gridmap_heat_f f
        CROSS JOIN LATERAL (VALUES ('c'::"char", f.category_code), ('s', f.status), ('o', f.source)) AS v(dim, val)
        GROUP BY 1, 2, 3, 4, 5, 6;
    ANALYZE gridmap_heat_f, gridmap_heat_d;
    BEGIN
        
        CREATE TEMP TABLE gridmap_heat_s ON COMMIT DROP AS SELECT day, cx, cy, category_code, status, source, sum(n)::integer AS n FROM pg_temp.gridmap_heat_f GROUP BY day, cx, cy, category_code, status, source;
        UPDATE case_heat_day h SET n = h.n + s.n FROM pg_temp.gridmap_heat_s s WHERE h.day = s.day AND h.cx = s.cx AND h.cy = s.cy AND h.category_code = s.category_code AND h.status = s.status AND h.source = s.source;
        INSERT INTO case_heat_day (day, cx, cy, category_code, status, source, n)
        SELECT day, cx, cy, category_code, status, source, n FROM pg_temp.gridmap_heat_s s
        WHERE NOT EXISTS (SELECT 1 FROM case_heat_day h WHERE h.day = s.day AND h.cx = s.cx AND h.cy = s.cy AND h.category_code = s.category_code AND h.status = s.status AND h.source = s.source) ORDER BY day, cx, cy, category_code, status, source;
        DROP TABLE pg_temp.gridmap_heat_s;
        CREATE TEMP TABLE gridmap_heat_s ON COMMIT DROP AS SELECT hour, cx, cy, category_code, status, source, n FROM pg_temp.gridmap_heat_f;
        UPDATE case_heat_hour h SET n = h.n + s.n FROM pg_temp.gridmap_heat_s s WHERE h.hour = s.hour AND h.cx = s.cx AND h.cy = s.cy AND h.category_code = s.category_code AND h.status = s.status AND h.source = s.source;
        INSERT INTO case_heat_hour (hour, cx, cy, category_code, status, source, n)
        SELECT hour, cx, cy, category_code, status, source, n FROM pg_temp.gridmap_heat_s s
        WHERE NOT EXISTS (SELECT 1 FROM case_heat_hour h WHERE h.hour = s.hour AND h.cx = s.cx AND h.cy = s.cy AND h.category_code = s.category_code AND h.status = s.status AND h.source = s.source) ORDER BY hour, cx, cy, category_code, status, source;
        DROP TABLE pg_temp.gridmap_heat_s;
        CREATE TEMP TABLE gridmap_heat_s ON COMMIT DROP AS SELECT day, cx, cy, sum(n)::integer AS n FROM pg_temp.gridmap_heat_f GROUP BY day, cx, cy;
        UPDATE case_heat_cell_day h SET n = h.n + s.n FROM pg_temp.gridmap_heat_s s WHERE h.day = s.day AND h.cx = s.cx AND h.cy = s.cy;
        INSERT INTO case_heat_cell_day (day, cx, cy, n)
        SELECT day, cx, cy, n FROM pg_temp.gridmap_heat_s s
        WHERE NOT EXISTS (SELECT 1 FROM case_heat_cell_day h WHERE h.day = s.day AND h.cx = s.cx AND h.cy = s.cy) ORDER BY day, cx, cy;
        DROP TABLE pg_temp.gridmap_heat_s;
        CREATE TEMP TABLE gridmap_heat_s ON COMMIT DROP AS SELECT hour, cx, cy, sum(n)::integer AS n FROM pg_temp.gridmap_heat_f GROUP BY hour, cx, cy;
        UPDATE case_heat_cell_hour h SET n = h.n + s.n FROM pg_temp.gridmap_heat_s s WHERE h.hour = s.hour AND h.cx = s.cx AND h.cy = s.cy;
        INSERT INTO case_heat_cell_hour (hour, cx, cy, n)
        SELECT hour, cx, cy, n FROM pg_temp.gridmap_heat_s s
        WHERE NOT EXISTS (SELECT 1 FROM case_heat_cell_hour h WHERE h.hour = s.hour AND h.cx = s.cx AND h.cy = s.cy) ORDER BY hour, cx, cy;
        DROP TABLE pg_temp.gridmap_heat_s;
        CREATE TEMP TABLE gridmap_heat_s ON COMMIT DROP AS SELECT dim, val, day, cx, cy, sum(n)::integer AS n FROM pg_temp.gridmap_heat_d GROUP BY dim, val, day, cx, cy;
        UPDATE case_heat_dim_day h SET n = h.n + s.n FROM pg_temp.gridmap_heat_s s WHERE h.dim = s.dim AND h.val = s.val AND h.day = s.day AND h.cx = s.cx AND h.cy = s.cy;
        INSERT INTO case_heat_dim_day (dim, val, day, cx, cy, n)
        SELECT dim, val, day, cx, cy, n FROM pg_temp.gridmap_heat_s s
        WHERE NOT EXISTS (SELECT 1 FROM case_heat_dim_day h WHERE h.dim = s.dim AND h.val = s.val AND h.day = s.day AND h.cx = s.cx AND h.cy = s.cy) ORDER BY dim, val, day, cx, cy;
        DROP TABLE pg_temp.gridmap_heat_s;
        CREATE TEMP TABLE gridmap_heat_s ON COMMIT DROP AS SELECT dim, val, hour, cx, cy, n FROM pg_temp.gridmap_heat_d;
        UPDATE case_heat_dim_hour h SET n = h.n + s.n FROM pg_temp.gridmap_heat_s s WHERE h.dim = s.dim AND h.val = s.val AND h.hour = s.hour AND h.cx = s.cx AND h.cy = s.cy;
        INSERT INTO case_heat_dim_hour (dim, val, hour, cx, cy, n)
        SELECT dim, val, hour, cx, cy, n FROM pg_temp.gridmap_heat_s s
        WHERE NOT EXISTS (SELECT 1 FROM case_heat_dim_hour h WHERE h.dim = s.dim AND h.val = s.val AND h.hour = s.hour AND h.cx = s.cx AND h.cy = s.cy) ORDER BY dim, val, hour, cx, cy;
        DROP TABLE pg_temp.gridmap_heat_s;
    EXCEPTION WHEN unique_violation THEN
        -- A concurrent transaction counted one of these keys first: add with the upserts instead.
        
        INSERT INTO case_heat_day AS h (day, cx, cy, category_code, status, source, n)
        SELECT day, cx, cy, category_code, status, source, sum(n) FROM pg_temp.gridmap_heat_f GROUP BY day, cx, cy, category_code, status, source ORDER BY day, cx, cy, category_code, status, source
        ON CONFLICT (day, cx, cy, category_code, status, source) DO UPDATE SET n = h.n + excluded.n;
        INSERT INTO case_heat_hour AS h (hour, cx, cy, category_code, status, source, n)
        SELECT hour, cx, cy, category_code, status, source, sum(n) FROM pg_temp.gridmap_heat_f GROUP BY hour, cx, cy, category_code, status, source ORDER BY hour, cx, cy, category_code, status, source
        ON CONFLICT (hour, cx, cy, category_code, status, source) DO UPDATE SET n = h.n + excluded.n;
        INSERT INTO case_heat_cell_day AS h (day, cx, cy, n)
        SELECT day, cx, cy, sum(n) FROM pg_temp.gridmap_heat_f GROUP BY day, cx, cy ORDER BY day, cx, cy
        ON CONFLICT (day, cx, cy) DO UPDATE SET n = h.n + excluded.n;
        INSERT INTO case_heat_cell_hour AS h (hour, cx, cy, n)
        SELECT hour, cx, cy, sum(n) FROM pg_temp.gridmap_heat_f GROUP BY hour, cx, cy ORDER BY hour, cx, cy
        ON CONFLICT (hour, cx, cy) DO UPDATE SET n = h.n + excluded.n;
        INSERT INTO case_heat_dim_day AS h (dim, val, day, cx, cy, n)
        SELECT dim, val, day, cx, cy, sum(n) FROM pg_temp.gridmap_heat_d GROUP BY dim, val, day, cx, cy ORDER BY dim, val, day, cx, cy
        ON CONFLICT (dim, val, day, cx, cy) DO UPDATE SET n = h.n + excluded.n;
        INSERT INTO case_heat_dim_hour AS h (dim, val, hour, cx, cy, n)
        SELECT dim, val, hour, cx, cy, sum(n) FROM pg_temp.gridmap_heat_d GROUP BY dim, val, hour, cx, cy ORDER BY dim, val, hour, cx, cy
        ON CONFLICT (dim, val, hour, cx, cy) DO UPDATE SET n = h.n + excluded.n;
    END;
    DROP TABLE pg_temp.gridmap_heat_f, pg_temp.gridmap_heat_d;
END;
$fn$;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    # 0006's trigger function and rebuild, 0009's catch-up; then the hour rows the horizon left out.
    op.execute("DROP FUNCTION gridmap_heat_rebuild();\n" + _0006_DELTAS)
    op.execute(_0009_FUNCTION)
    op.execute("""
        DROP FUNCTION IF EXISTS gridmap_heat_prune_hours(timestamptz);
        DROP FUNCTION IF EXISTS gridmap_heat_add_agg();
        DO $$ BEGIN
            IF (SELECT since FROM heat_hourly_horizon) > '-infinity' THEN
                PERFORM gridmap_heat_rebuild();
            END IF;
        END $$;
        DROP TABLE heat_hourly_horizon;""")

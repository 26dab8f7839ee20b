"""``gridmap_heat_add_cases`` inserts roll-up rows it is the first to count without ``ON CONFLICT``.

A million imported cases make about 8.4 million roll-up rows, nearly all new (history lands on days and
cells nothing counted yet). ``INSERT ... ON CONFLICT DO UPDATE`` pays a speculative insertion for every
one of them (an extra index probe, a speculative token, a confirmation record in the WAL): about 40 %
more per row than a plain insert. So the catch-up now, table by table, adds to the rows that exist
(``UPDATE``) and inserts the others plainly (``INSERT ... WHERE NOT EXISTS``), from two temporary
aggregates (no WAL). Should a concurrent transaction (live intake's trigger) insert one of the same keys
in between, the plain insert fails with a unique violation; the whole catch-up is then rolled back to
its start (the block's implicit savepoint) and done with the upserts of 0008, which wait for and add to
such rows. Either way the counts are the same, and tests/api/reports/test_bulk.py compares them with
the trigger's.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""


from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TABLES = {
    # table: (key columns, source aggregate)
    "case_heat_day": ("day, cx, cy, category_code, status, source", "f"),
    "case_heat_hour": ("hour, cx, cy, category_code, status, source", "f"),
    "case_heat_cell_day": ("day, cx, cy", "f"),
    "case_heat_cell_hour": ("hour, cx, cy", "f"),
    "case_heat_dim_day": ("dim, val, day, cx, cy", "d"),
    "case_heat_dim_hour": ("dim, val, hour, cx, cy", "d"),
}


_FINEST = ("case_heat_hour", "case_heat_dim_hour")


def _plain(table: str, keys: str, src: str) -> str:
    cols = [c.strip() for c in keys.split(",")]
    match = " AND ".join(f"h.{c} = s.{c}" for c in cols)
    # The full and the dimension hourly roll-ups are keyed at their aggregate's own grain (the day follows
    # from the hour): no regrouping. (The cell roll-ups are coarser: several of its rows make one.)
    agg = (f"SELECT {keys}, n FROM pg_temp.gridmap_heat_{src}" if table in _FINEST
           else f"SELECT {keys}, sum(n)::integer AS n FROM pg_temp.gridmap_heat_{src} GROUP BY {keys}")
    return f"""
        CREATE TEMP TABLE gridmap_heat_s ON COMMIT DROP AS {agg};
        UPDATE {table} h SET n = h.n + s.n FROM pg_temp.gridmap_heat_s s WHERE {match};
        INSERT INTO {table} ({keys}, n)
        SELECT {keys}, n FROM pg_temp.gridmap_heat_s s
        WHERE NOT EXISTS (SELECT 1 FROM {table} h WHERE {match}) ORDER BY {keys};
        DROP TABLE pg_temp.gridmap_heat_s;"""


def _upsert(table: str, keys: str, src: str) -> str:
    return f"""
        INSERT INTO {table} AS h ({keys}, n)
        SELECT {keys}, sum(n) FROM pg_temp.gridmap_heat_{src} GROUP BY {keys} ORDER BY {keys}
        ON CONFLICT ({keys}) DO UPDATE SET n = h.n + excluded.n;"""


UPGRADE = rf"""
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
        {"".join(_plain(t, k, s) for t, (k, s) in _TABLES.items())}
    EXCEPTION WHEN unique_violation THEN
        -- A concurrent transaction counted one of these keys first: add with the upserts instead.
        {"".join(_upsert(t, k, s) for t, (k, s) in _TABLES.items())}
    END;
    DROP TABLE pg_temp.gridmap_heat_f, pg_temp.gridmap_heat_d;
END;
$fn$;
"""


#: 0008's function, one statement of upserts: what the downgrade puts back (its text as 0008 created it; each
#: migration carries the SQL it needs rather than reading another's).
_0008_FUNCTION = r"""CREATE FUNCTION gridmap_heat_add_cases(case_ids bigint[]) RETURNS void LANGUAGE sql AS $$
    WITH f AS MATERIALIZED (
        SELECT gridmap_local_day(r.reported_at) AS day, date_trunc('hour', r.reported_at) AS hour,
               gridmap_cell_x(ST_X(r.location)) AS cx, gridmap_cell_y(ST_Y(r.location)) AS cy,
               coalesce(c.category_code, '') AS category_code, c.status, r.source, count(*)::integer AS n
        FROM unnest(case_ids) AS u(id)
        JOIN cases c ON c.id = u.id
        JOIN report r ON r.id = c.report_id
        WHERE r.location IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5, 6, 7
    ), dims AS MATERIALIZED (
        SELECT f.day, f.hour, f.cx, f.cy, v.dim, v.val, sum(f.n)::integer AS n
        FROM f CROSS JOIN LATERAL (VALUES ('c'::"char", f.category_code), ('s', f.status), ('o', f.source))
            AS v(dim, val)
        GROUP BY 1, 2, 3, 4, 5, 6
    ), full_day AS (
        INSERT INTO case_heat_day AS h (day, cx, cy, category_code, status, source, n)
        SELECT day, cx, cy, category_code, status, source, sum(n)
        FROM f GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (day, cx, cy, category_code, status, source) DO UPDATE SET n = h.n + excluded.n
    ), full_hour AS (
        INSERT INTO case_heat_hour AS h (hour, cx, cy, category_code, status, source, n)
        SELECT hour, cx, cy, category_code, status, source, sum(n)
        FROM f GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (hour, cx, cy, category_code, status, source) DO UPDATE SET n = h.n + excluded.n
    ), cell_day AS (
        INSERT INTO case_heat_cell_day AS h (day, cx, cy, n)
        SELECT day, cx, cy, sum(n) FROM f GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (day, cx, cy) DO UPDATE SET n = h.n + excluded.n
    ), cell_hour AS (
        INSERT INTO case_heat_cell_hour AS h (hour, cx, cy, n)
        SELECT hour, cx, cy, sum(n) FROM f GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (hour, cx, cy) DO UPDATE SET n = h.n + excluded.n
    ), dim_day AS (
        INSERT INTO case_heat_dim_day AS h (dim, val, day, cx, cy, n)
        SELECT dim, val, day, cx, cy, sum(n) FROM dims GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (dim, val, day, cx, cy) DO UPDATE SET n = h.n + excluded.n
    )
    INSERT INTO case_heat_dim_hour AS h (dim, val, hour, cx, cy, n)
    SELECT dim, val, hour, cx, cy, sum(n) FROM dims GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (dim, val, hour, cx, cy) DO UPDATE SET n = h.n + excluded.n;
$$;
COMMENT ON FUNCTION gridmap_heat_add_cases(bigint[]) IS
    'Add inserted cases to the six heat roll-ups in one statement (after inserting them with gridmap.defer_heat on)';
"""


def downgrade() -> None:
    op.execute("DROP FUNCTION gridmap_heat_add_cases(bigint[]);\n" + _0008_FUNCTION)


def upgrade() -> None:
    op.execute(UPGRADE)

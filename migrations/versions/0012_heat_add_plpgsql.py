"""``gridmap_heat_add`` in PL/pgSQL: its plan is kept from call to call instead of made again every time.

The function (0006; hour rows limited to the horizon by 0011) adds signed deltas to the six heat roll-ups in one
statement of six upserts. Written in ``LANGUAGE sql`` (and not inlinable: it returns ``void`` and writes),
PostgreSQL plans that statement afresh at every call. The statement trigger on ``cases`` calls it once per intake
statement, so every report (or batch of reports) paid the planning: measured with ``EXPLAIN ANALYZE`` on the bench
database, the trigger took 2.4 ms for a one-report intake, of which ~1.8 ms was planning; in PL/pgSQL (the same
statement, its plan cached per connection) it takes 0.6 ms (issue 4). Case updates (the workflow, the wall's
counts) run the same trigger and gain alike. The statement itself is unchanged, so the counts are the same
(tests/api/wall and tests/api/reports compare them with a recount).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23
"""


from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


#: 0011's ``CREATE OR REPLACE FUNCTION gridmap_heat_add`` (LANGUAGE sql), as 0011 created it: the upgrade wraps
#: its statement in PL/pgSQL, the downgrade puts it back.
_SQL_FUNCTION = r"""CREATE OR REPLACE FUNCTION gridmap_heat_add(deltas jsonb) RETURNS void LANGUAGE sql AS $$
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
        FROM d WHERE hour >= (SELECT since FROM heat_hourly_horizon) GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(d) <> 0 ORDER BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (hour, cx, cy, category_code, status, source) DO UPDATE SET n = h.n + excluded.n
    ), cell_day AS (
        INSERT INTO case_heat_cell_day AS h (day, cx, cy, n)
        SELECT day, cx, cy, sum(d) FROM d GROUP BY 1, 2, 3 HAVING sum(d) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (day, cx, cy) DO UPDATE SET n = h.n + excluded.n
    ), cell_hour AS (
        INSERT INTO case_heat_cell_hour AS h (hour, cx, cy, n)
        SELECT hour, cx, cy, sum(d) FROM d WHERE hour >= (SELECT since FROM heat_hourly_horizon) GROUP BY 1, 2, 3 HAVING sum(d) <> 0
        ORDER BY 1, 2, 3
        ON CONFLICT (hour, cx, cy) DO UPDATE SET n = h.n + excluded.n
    ), dim_day AS (
        INSERT INTO case_heat_dim_day AS h (dim, val, day, cx, cy, n)
        SELECT dim, val, day, cx, cy, sum(d) FROM dims GROUP BY 1, 2, 3, 4, 5 HAVING sum(d) <> 0
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (dim, val, day, cx, cy) DO UPDATE SET n = h.n + excluded.n
    )
    INSERT INTO case_heat_dim_hour AS h (dim, val, hour, cx, cy, n)
    SELECT dim, val, hour, cx, cy, sum(d) FROM dims WHERE hour >= (SELECT since FROM heat_hourly_horizon) GROUP BY 1, 2, 3, 4, 5
    HAVING sum(d) <> 0 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (dim, val, hour, cx, cy) DO UPDATE SET n = h.n + excluded.n;
$$;"""


def _sql_function() -> str:
    return _SQL_FUNCTION


def upgrade() -> None:
    sql = _sql_function()
    head, body = sql.split("LANGUAGE sql AS $$", 1)
    statement = body.rsplit("$$;", 1)[0].strip()
    op.execute(f"{head}LANGUAGE plpgsql AS $$\nBEGIN\n    {statement}\nEND;\n$$;")


def downgrade() -> None:
    op.execute(_sql_function())

"""Bulk loads may defer the heat roll-ups of the cases they insert and add them with one aggregated upsert.

The statement trigger of 0003/0006 on ``cases`` turns every inserted case into a jsonb delta object, joins
each back to its report and upserts six roll-ups. For a live report that is one small statement; for a
COPY of a million historical cases it was most of the import (39 s of 64 s for the cases of 200,000 rows).

* ``gridmap_heat_on_cases()`` now honours a per-transaction switch: after
  ``SET LOCAL gridmap.defer_heat = on`` an INSERT into ``cases`` leaves the roll-ups alone. UPDATE and
  DELETE are always counted at once (they move counts that are already there), so a deferring transaction
  must add its inserted cases before it updates or deletes them.
* ``gridmap_heat_add_cases(case_ids bigint[])`` adds the given (inserted, not yet counted) cases to all six
  roll-ups in one statement: one hash join of the ids to ``cases`` and ``report``, one aggregation at the
  finest grain (day, hour, cell, category, status, source), the five coarser roll-ups summed from it.
  The counts are the ones the trigger would have written (tests/api/reports/test_bulk.py compares the six
  tables after the same import either way).

Whoever sets the switch owns the catch-up: ``api/reports/bulk.py`` sets it, COPYs, calls
``gridmap_heat_add_cases`` and sets the switch off again, all in the caller's transaction, so a failure
anywhere rolls everything back together and nothing is left uncounted. ``SET LOCAL`` ends with the
transaction, so a forgotten switch cannot leak into a pooled connection's next transaction.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The trigger function of 0003 with the switch in front of the INSERT branch.
UPGRADE = r"""
CREATE OR REPLACE FUNCTION gridmap_heat_on_cases() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    deltas jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- A bulk load adds its cases itself, in one statement (gridmap_heat_add_cases).
        IF current_setting('gridmap.defer_heat', true) = 'on' THEN
            RETURN NULL;
        END IF;
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

-- Add cases that are in the table but not yet in the roll-ups (inserted with gridmap.defer_heat on).
CREATE FUNCTION gridmap_heat_add_cases(case_ids bigint[]) RETURNS void LANGUAGE sql AS $$
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

# The trigger function as migration 0003 left it.
DOWNGRADE = r"""
DROP FUNCTION IF EXISTS gridmap_heat_add_cases(bigint[]);
CREATE OR REPLACE FUNCTION gridmap_heat_on_cases() RETURNS trigger LANGUAGE plpgsql AS $$
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
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)

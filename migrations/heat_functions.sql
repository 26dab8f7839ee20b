-- The heat roll-ups' live SQL functions, whole, as PostgreSQL prints them (pg_get_functiondef), in name order.
-- Made by migrations 0003, 0006, 0008, 0009, 0011 and 0012, each of which replaced some of them: this file is
-- where a reader sees today's gridmap_heat_add and its neighbours in one place. It is not applied by anything;
-- tests/migrations/test_heat_functions.py compares it with the database, so a migration that changes one of
-- these functions must change this file too (regenerate it from pg_get_functiondef of these functions, in name order).

CREATE OR REPLACE FUNCTION public.gridmap_cell_x(lon double precision)
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE STRICT
RETURN (floor((((lon + (180.0)::double precision) / (360.0)::double precision) * (131072)::double precision)))::integer
;

CREATE OR REPLACE FUNCTION public.gridmap_cell_y(lat double precision)
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE STRICT
RETURN (floor(((((1.0)::double precision - (ln((tan(radians(lat)) + ((1.0)::double precision / cos(radians(lat))))) / pi())) / (2.0)::double precision) * (131072)::double precision)))::integer
;

CREATE OR REPLACE FUNCTION public.gridmap_heat_add(deltas jsonb)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
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
END;
$function$
;

CREATE OR REPLACE FUNCTION public.gridmap_heat_add_agg()
 RETURNS void
 LANGUAGE plpgsql
AS $function$
DECLARE
    horizon timestamptz := (SELECT since FROM heat_hourly_horizon);
BEGIN
    DROP TABLE IF EXISTS pg_temp.gridmap_heat_d, pg_temp.gridmap_heat_s;
    CREATE TEMP TABLE gridmap_heat_d ON COMMIT DROP AS
        SELECT f.day, f.hour, f.cx, f.cy, v.dim, v.val, sum(f.n)::integer AS n
        FROM pg_temp.gridmap_heat_f f
        CROSS JOIN LATERAL (VALUES ('c'::"char", f.category_code), ('s', f.status), ('o', f.source)) AS v(dim, val)
        GROUP BY 1, 2, 3, 4, 5, 6;
    ANALYZE pg_temp.gridmap_heat_f, pg_temp.gridmap_heat_d;
    BEGIN
        
        CREATE TEMP TABLE gridmap_heat_s ON COMMIT DROP AS SELECT day, cx, cy, category_code, status, source, sum(n)::integer AS n FROM pg_temp.gridmap_heat_f GROUP BY day, cx, cy, category_code, status, source;
        UPDATE case_heat_day h SET n = h.n + s.n FROM pg_temp.gridmap_heat_s s WHERE h.day = s.day AND h.cx = s.cx AND h.cy = s.cy AND h.category_code = s.category_code AND h.status = s.status AND h.source = s.source;
        INSERT INTO case_heat_day (day, cx, cy, category_code, status, source, n)
        SELECT day, cx, cy, category_code, status, source, n FROM pg_temp.gridmap_heat_s s
        WHERE NOT EXISTS (SELECT 1 FROM case_heat_day h WHERE h.day = s.day AND h.cx = s.cx AND h.cy = s.cy AND h.category_code = s.category_code AND h.status = s.status AND h.source = s.source) ORDER BY day, cx, cy, category_code, status, source;
        DROP TABLE pg_temp.gridmap_heat_s;
        CREATE TEMP TABLE gridmap_heat_s ON COMMIT DROP AS SELECT hour, cx, cy, category_code, status, source, n FROM pg_temp.gridmap_heat_f WHERE hour >= horizon;
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
        CREATE TEMP TABLE gridmap_heat_s ON COMMIT DROP AS SELECT hour, cx, cy, sum(n)::integer AS n FROM pg_temp.gridmap_heat_f WHERE hour >= horizon GROUP BY hour, cx, cy;
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
        CREATE TEMP TABLE gridmap_heat_s ON COMMIT DROP AS SELECT dim, val, hour, cx, cy, n FROM pg_temp.gridmap_heat_d WHERE hour >= horizon;
        UPDATE case_heat_dim_hour h SET n = h.n + s.n FROM pg_temp.gridmap_heat_s s WHERE h.dim = s.dim AND h.val = s.val AND h.hour = s.hour AND h.cx = s.cx AND h.cy = s.cy;
        INSERT INTO case_heat_dim_hour (dim, val, hour, cx, cy, n)
        SELECT dim, val, hour, cx, cy, n FROM pg_temp.gridmap_heat_s s
        WHERE NOT EXISTS (SELECT 1 FROM case_heat_dim_hour h WHERE h.dim = s.dim AND h.val = s.val AND h.hour = s.hour AND h.cx = s.cx AND h.cy = s.cy) ORDER BY dim, val, hour, cx, cy;
        DROP TABLE pg_temp.gridmap_heat_s;
    EXCEPTION WHEN unique_violation THEN
        -- A concurrent transaction counted one of these keys first: add with the upserts instead (0009).
        
        INSERT INTO case_heat_day AS h (day, cx, cy, category_code, status, source, n)
        SELECT day, cx, cy, category_code, status, source, n FROM (SELECT day, cx, cy, category_code, status, source, sum(n)::integer AS n FROM pg_temp.gridmap_heat_f GROUP BY day, cx, cy, category_code, status, source) a ORDER BY day, cx, cy, category_code, status, source
        ON CONFLICT (day, cx, cy, category_code, status, source) DO UPDATE SET n = h.n + excluded.n;
        INSERT INTO case_heat_hour AS h (hour, cx, cy, category_code, status, source, n)
        SELECT hour, cx, cy, category_code, status, source, n FROM (SELECT hour, cx, cy, category_code, status, source, n FROM pg_temp.gridmap_heat_f WHERE hour >= horizon) a ORDER BY hour, cx, cy, category_code, status, source
        ON CONFLICT (hour, cx, cy, category_code, status, source) DO UPDATE SET n = h.n + excluded.n;
        INSERT INTO case_heat_cell_day AS h (day, cx, cy, n)
        SELECT day, cx, cy, n FROM (SELECT day, cx, cy, sum(n)::integer AS n FROM pg_temp.gridmap_heat_f GROUP BY day, cx, cy) a ORDER BY day, cx, cy
        ON CONFLICT (day, cx, cy) DO UPDATE SET n = h.n + excluded.n;
        INSERT INTO case_heat_cell_hour AS h (hour, cx, cy, n)
        SELECT hour, cx, cy, n FROM (SELECT hour, cx, cy, sum(n)::integer AS n FROM pg_temp.gridmap_heat_f WHERE hour >= horizon GROUP BY hour, cx, cy) a ORDER BY hour, cx, cy
        ON CONFLICT (hour, cx, cy) DO UPDATE SET n = h.n + excluded.n;
        INSERT INTO case_heat_dim_day AS h (dim, val, day, cx, cy, n)
        SELECT dim, val, day, cx, cy, n FROM (SELECT dim, val, day, cx, cy, sum(n)::integer AS n FROM pg_temp.gridmap_heat_d GROUP BY dim, val, day, cx, cy) a ORDER BY dim, val, day, cx, cy
        ON CONFLICT (dim, val, day, cx, cy) DO UPDATE SET n = h.n + excluded.n;
        INSERT INTO case_heat_dim_hour AS h (dim, val, hour, cx, cy, n)
        SELECT dim, val, hour, cx, cy, n FROM (SELECT dim, val, hour, cx, cy, n FROM pg_temp.gridmap_heat_d WHERE hour >= horizon) a ORDER BY dim, val, hour, cx, cy
        ON CONFLICT (dim, val, hour, cx, cy) DO UPDATE SET n = h.n + excluded.n;
    END;
    DROP TABLE pg_temp.gridmap_heat_f, pg_temp.gridmap_heat_d;
END;
$function$
;

CREATE OR REPLACE FUNCTION public.gridmap_heat_add_cases(case_ids bigint[])
 RETURNS void
 LANGUAGE plpgsql
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION public.gridmap_heat_on_cases()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION public.gridmap_heat_prune_hours(target timestamp with time zone)
 RETURNS timestamp with time zone
 LANGUAGE plpgsql
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION public.gridmap_heat_rebuild()
 RETURNS void
 LANGUAGE plpgsql
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION public.gridmap_local_day(t timestamp with time zone)
 RETURNS date
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE STRICT
RETURN ((t AT TIME ZONE 'Asia/Shanghai'::text))::date
;


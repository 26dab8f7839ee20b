"""Map wall benchmarks: heatmap bins over 10,000,000 cases, a warm z14 grid tile.

The 10M cases are generated in the bench database by SQL (``generate_series``, one INSERT per table,
heat triggers disabled and the roll-ups rebuilt once), around the sample district's real case
locations, over the 90 days before now. They live in their own database, ``<bench db>_wall10m``, cloned from
the bench's seeded template and kept between runs (``make bench`` re-creates the ordinary bench database
every time); it is rebuilt when the schema or sample fingerprint changes. The first run spends about ten
minutes generating; later runs start at once.
"""

from __future__ import annotations

import os
import statistics
import time

from sqlalchemy import text

from api.core.config import get_settings

TARGET = int(os.environ.get("GRIDMAP_BENCH_CASES", "10000000"))
VIEW = "116.3600,39.8500,116.4500,39.9700"  # the district at about zoom 13 on a 1920 px screen


def wall_database(url: str) -> str:
    """The kept 10M-case database next to the bench database (cloned from the same seeded template)."""
    from sqlalchemy.engine import make_url

    from api.devtools import seeded
    from api.devtools.seeded import _admin_engine, _fingerprint

    base = make_url(url)
    name = f"{base.database}_wall10m"
    template = getattr(seeded, "TEMPLATE", None) or f"{base.database.split('_test')[0]}_test_template"
    mark = f"gridmap-wall10m {_fingerprint()}"
    admin = _admin_engine(url)
    with admin.connect() as c:
        comment = c.execute(text("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = :n"),
                            {"n": name}).scalar()
        if comment != mark:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
            c.execute(text(f"COMMENT ON DATABASE \"{name}\" IS '{mark}'"))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _engine(url: str):
    from api.core.db import make_engine

    return make_engine(get_settings(), url=url, pool_size=2)


def ensure_cases(url: str) -> int:
    """Top the bench database up to TARGET cases (reports + cases, heat roll-ups rebuilt)."""
    eng = _engine(url)
    with eng.begin() as c:
        c.execute(text("SET statement_timeout = 0"))
        n = c.execute(text("SELECT count(*) FROM cases")).scalar_one()
        if n >= TARGET:
            return n
        extra = TARGET - n
        t = time.perf_counter()
        c.execute(text("ALTER TABLE cases DISABLE TRIGGER tr_cases_heat_ins"))
        c.execute(text("""
            CREATE TEMP TABLE seed AS
            SELECT row_number() OVER () - 1 AS i, ST_X(location) AS x, ST_Y(location) AS y, category_code, source
            FROM report WHERE location IS NOT NULL"""))
        c.execute(text("""
            CREATE TEMP TABLE gen ON COMMIT DROP AS
            SELECT g, s.x + (random() - 0.5) * 0.004 AS x, s.y + (random() - 0.5) * 0.003 AS y,
                   s.category_code, s.source,
                   now() - (random() ^ 1.3) * interval '90 days' AS at, random() AS r
            FROM generate_series(1, :extra) g
            JOIN seed s ON s.i = g % (SELECT count(*) FROM seed)"""), {"extra": extra})
        first = c.execute(text("SELECT coalesce(max(id), 0) FROM report")).scalar_one()
        c.execute(text("""
            INSERT INTO report (id, source, category_code, reported_at, received_at, location, description)
            SELECT :first + g, source, category_code, at, at, ST_SetSRID(ST_MakePoint(x, y), 4326), 'bench'
            FROM gen"""), {"first": first})
        c.execute(text("SELECT setval(pg_get_serial_sequence('report', 'id'), (SELECT max(id) FROM report))"))
        c.execute(text("""
            INSERT INTO cases (report_id, category_code, status, deadline, created_at, updated_at, closed_at)
            SELECT :first + g, category_code,
                   CASE WHEN at > now() - interval '2 days' AND r < 0.6 THEN 'reported'
                        WHEN r < 0.80 THEN 'closed' WHEN r < 0.83 THEN 'rejected' WHEN r < 0.88 THEN 'in_progress'
                        WHEN r < 0.92 THEN 'dispatched' WHEN r < 0.95 THEN 'escalated' ELSE 'resolved' END,
                   at + interval '72 hours', at, at,
                   CASE WHEN NOT (at > now() - interval '2 days' AND r < 0.6) AND r < 0.80
                        THEN at + interval '30 hours' END
            FROM gen"""), {"first": first})
        c.execute(text("ALTER TABLE cases ENABLE TRIGGER tr_cases_heat_ins"))
        c.execute(text("SELECT gridmap_heat_rebuild()"))
        print(f"  generated {extra:,} cases in {time.perf_counter() - t:.0f} s")
    with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("SET statement_timeout = 0"))
        c.execute(text("VACUUM ANALYZE report, cases, case_heat_day, case_heat_hour"))
        n = c.execute(text("SELECT count(*) FROM cases")).scalar_one()
    eng.dispose()
    return n


def _client(url: str):
    from fastapi.testclient import TestClient

    from api.auth.service import Principal
    from api.core.deps import get_principal
    from api.main import create_app

    os.environ["GRIDMAP_DATABASE_URL"] = url
    get_settings.cache_clear()
    app = create_app(get_settings())
    app.dependency_overrides[get_principal] = lambda: Principal(0, "bench", "commander")
    return TestClient(app)


def _median_ms(fn, repeat: int) -> float:
    fn()
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out) * 1000


def heatmap_10m(url: str, repeat: int) -> dict:
    """Heatmap bins for the district view over 10M cases: our roll-ups vs a GROUP BY over the raw cases."""
    url = wall_database(url)
    n = ensure_cases(url)
    from api.wall.filters import parse_filters

    figures = {}
    with _client(url) as client:
        for window in ("today", "7d", "30d"):
            def ours(window=window) -> dict:
                r = client.get("/api/v1/wall/heatmap", params={"bbox": VIEW, "zoom": 13, "window": window})
                assert r.status_code == 200, r.text
                return r.json()
            figures[window] = (_median_ms(ours, repeat), ours())
        filtered = _median_ms(lambda: client.get("/api/v1/wall/heatmap", params={
            "bbox": VIEW, "zoom": 13, "window": "30d", "status": "escalated,in_progress",
            "source": "hotline_12345"}).raise_for_status(), repeat)
        engine = client.app.state.engine
        f = parse_filters(window="7d", since=None, until=None, category=None, status=None, source=None)
        level = figures["7d"][1]["level"]
        shift = 17 - level

        def naive() -> None:
            with engine.connect() as c:
                c.execute(text(f"""
                    SELECT gridmap_cell_x(ST_X(r.location)) >> {shift}, gridmap_cell_y(ST_Y(r.location)) >> {shift},
                           count(*)
                    FROM report r JOIN cases c ON c.report_id = r.id
                    WHERE r.reported_at >= :t0 AND r.reported_at < :t1
                      AND r.location && ST_MakeEnvelope(116.36, 39.85, 116.45, 39.97, 4326)
                    GROUP BY 1, 2"""), {"t0": f.since, "t1": f.until}).all()
        base = _median_ms(naive, max(2, repeat // 3))
    t7, body7 = figures["7d"]
    return {"name": "wall_heatmap_10m", "value": round(t7, 1), "unit": "ms", "baseline": round(base, 1),
            "baseline_name": "GROUP BY over the raw cases (report JOIN cases, same window and view)",
            "ratio": round(base / t7, 1), "n": n,
            "note": (f"HTTP in-process, district view at zoom 13 (level {body7['level']}, {body7['count']} cells, "
                     f"{body7['total']:,} cases in 7 days); today {figures['today'][0]:.1f} ms, 30 days "
                     f"{figures['30d'][0]:.1f} ms ({figures['30d'][1]['total']:,} cases), 30 days filtered by two "
                     f"statuses and a source {filtered:.1f} ms; medians of {repeat}")}


def grid_tile_z14(url: str, repeat: int) -> dict:
    """A warm z14 grid vector tile vs the GeoJSON grids endpoint for the same bbox."""
    import morecantile

    tms = morecantile.tms.get("WebMercatorQuad")
    with _client(url) as client:
        lid = client.get("/api/v1/layouts").json()["items"][0]["id"]
        t = tms.tile(116.4075, 39.9040, 14)
        b = tms.bounds(t)

        def ours() -> None:
            r = client.get(f"/api/v1/tiles/grids/{t.z}/{t.x}/{t.y}.mvt")
            assert r.status_code == 200 and r.content

        def baseline() -> None:
            r = client.get("/api/v1/grids", params={"layout": lid, "limit": 10000,
                                                     "bbox": f"{b.left},{b.bottom},{b.right},{b.top}"})
            assert r.status_code == 200

        from bench.run import interleaved

        a, c = interleaved(ours, baseline, repeat)
        cold = client.app.state.tile_cache
        cold.invalidate()
        t0 = time.perf_counter()
        ours()
        cold_ms = (time.perf_counter() - t0) * 1000
        size = len(client.get(f"/api/v1/tiles/grids/{t.z}/{t.x}/{t.y}.mvt").content)
    return {"name": "wall_grid_tile_z14", "value": round(a * 1000, 2), "unit": "ms", "baseline": round(c * 1000, 2),
            "baseline_name": "GET /api/v1/grids?bbox= (GeoJSON) for the same tile bbox", "ratio": round(c / a, 1),
            "n": 1, "note": f"tile {t.z}/{t.x}/{t.y} ({size} bytes), warm (in-process cache, HTTP in-process); "
                            f"cold render {cold_ms:.1f} ms; median of {repeat}"}


BENCHES = {"wall_heatmap_10m": heatmap_10m, "wall_grid_tile_z14": grid_tile_z14}

"""The in-memory routing index equals PostGIS ST_Covers on the stored grids, and follows changes."""

from __future__ import annotations

import time

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.locate.index import IndexCache, build_layout_index


def _published(db: Session) -> int:
    return db.execute(text("SELECT id FROM grid_layout WHERE status = 'published'")).scalar_one()


def _test_points(db: Session, layout_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Every sample report, every grid vertex, the midpoint of every grid edge, and random points."""
    reports = np.array(db.execute(text("SELECT ST_X(location), ST_Y(location) FROM report")).all())
    wkb = db.execute(text("SELECT ST_AsBinary(boundary) FROM grid WHERE layout_id = :l"), {"l": layout_id}).scalars()
    polys = shapely.from_wkb([bytes(w) for w in wkb])
    vertices = shapely.get_coordinates(polys)
    midpoints = (vertices[:-1] + vertices[1:]) / 2.0
    rng = np.random.default_rng(3)
    minx, miny, maxx, maxy = shapely.total_bounds(polys)
    rand = np.column_stack([rng.uniform(minx - 0.01, maxx + 0.01, 20_000), rng.uniform(miny - 0.01, maxy + 0.01,
                                                                                         20_000)])
    pts = np.vstack([reports, vertices, midpoints, rand])
    return pts[:, 0], pts[:, 1]


def test_routing_index_equals_postgis_st_covers_everywhere(db: Session) -> None:
    lid = _published(db)
    li = build_layout_index(db, lid)
    x, y = _test_points(db, lid)
    db.execute(text("CREATE TEMP TABLE _pts (i integer, geom geometry(Point, 4326)) ON COMMIT DROP"))
    db.execute(text("""INSERT INTO _pts SELECT i - 1, ST_SetSRID(ST_MakePoint(x, y), 4326)
                       FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) WITH ORDINALITY AS t(x, y, i)"""),
               {"x": x.tolist(), "y": y.tolist()})
    db.execute(text("CREATE INDEX ON _pts USING gist (geom)"))
    truth = db.execute(text("""SELECT p.i, g.code FROM _pts p JOIN grid g
                               ON g.layout_id = :l AND ST_Covers(g.boundary, p.geom)"""), {"l": lid}).all()
    expected: dict[int, set[str]] = {}
    for i, code in truth:
        expected.setdefault(i, set()).add(code)
    p_idx, g_idx = li.index.covers(x, y)
    ours: dict[int, set[str]] = {}
    for i, g in zip(p_idx.tolist(), g_idx.tolist(), strict=True):
        ours.setdefault(i, set()).add(li.index.codes[g])
    assert ours == expected
    # The fast path (lattice + exact tests near edges) gives the same answers as the exact relation:
    # the smallest covering code, 'edge' exactly where several grids cover the point.
    routed = li.index.route(x, y, tolerance_m=0)
    for i in range(len(x)):
        codes = sorted(expected.get(i, ()))
        got = li.index.codes[routed.grid[i]] if routed.grid[i] >= 0 else None
        assert got == (codes[0] if codes else None), i
        assert routed.method[i] == (1 if len(codes) > 1 else 0 if codes else 3), i
        if len(codes) > 1:
            assert sorted(li.index.codes[c] for c in routed.candidates[i]) == codes[1:]
    # The test means something: vertices and edges produce many multi-grid points.
    assert sum(len(v) > 1 for v in expected.values()) > 1000


def test_nearest_within_tolerance_is_measured_in_metres(db: Session) -> None:
    lid = _published(db)
    li = build_layout_index(db, lid)
    # Points just outside the district boundary: 20 m and 200 m west of its westernmost vertex.
    minx = db.execute(text("SELECT ST_XMin(ST_Extent(boundary)) FROM grid WHERE layout_id = :l"), {"l": lid}).scalar()
    y = db.execute(text("""SELECT ST_Y(p) FROM (SELECT (ST_DumpPoints(boundary)).geom p FROM grid
                           WHERE layout_id = :l) t ORDER BY ST_X(p) LIMIT 1"""), {"l": lid}).scalar()
    metre = 1.0 / (111_320.0 * np.cos(np.radians(y)))
    r = li.index.route(np.array([minx - 20 * metre, minx - 200 * metre]), np.array([y, y]), tolerance_m=50)
    assert [int(m) for m in r.method] == [2, 3]
    assert 19.0 < r.distance_m[0] < 21.0 and r.grid[1] == -1


def test_the_cache_follows_committed_changes_through_notify(engine: Engine) -> None:
    cache = IndexCache()
    cache.start_listener(engine)
    try:
        with Session(engine) as s:
            lid = s.execute(text("INSERT INTO grid_layout (name) VALUES ('notify test') RETURNING id")).scalar_one()
            s.commit()
        time.sleep(0.3)  # let the listener see the insert before we cache
        with Session(engine) as s:
            assert cache.get(s, lid) is not None and len(cache.get(s, lid).index.codes) == 0
        builds = cache.builds
        with Session(engine) as s:
            s.execute(text("""INSERT INTO grid (layout_id, code, name, boundary) VALUES (:l, '110101001001999', 'x',
                              ST_Multi(ST_MakeEnvelope(116.4, 39.9, 116.41, 39.91, 4326)))"""), {"l": lid})
            s.commit()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and lid in cache._indexes:
            time.sleep(0.05)
        with Session(engine) as s:
            li = cache.get(s, lid)
        assert cache.builds == builds + 1 and list(li.index.codes) == ["110101001001999"]
    finally:
        cache.stop_listener()
        with Session(engine) as s:
            s.execute(text("DELETE FROM grid_layout WHERE name = 'notify test'"))
            s.commit()


def test_routing_one_point_at_a_time_equals_routing_them_together(db: Session) -> None:
    """One point takes a shortcut (a lattice lookup in plain floats, geo/routing.py ``_route_one_inside``); it must
    answer exactly as the vectorised path does, inside cells, on edges, near and far outside."""
    lid = _published(db)
    li = build_layout_index(db, lid)
    x, y = _test_points(db, lid)
    pick = np.random.default_rng(8).choice(len(x), 3000, replace=False)
    x, y = x[pick], y[pick]
    together = li.index.route(x, y, tolerance_m=50)
    shortcut = 0
    for i in range(len(x)):
        one = li.index.route(x[i:i + 1], y[i:i + 1], tolerance_m=50)
        shortcut += li.index._route_one_inside(float(x[i]), float(y[i])) is not None
        assert (int(one.grid[0]), int(one.method[0])) == (int(together.grid[i]), int(together.method[i])), i
        d1, d2 = float(one.distance_m[0]), float(together.distance_m[i])
        assert (d1 == d2) or (d1 != d1 and d2 != d2), i
        assert one.candidates.get(0, []) == together.candidates.get(i, []), i
    # Both paths were exercised: most points take the shortcut, edge and outside ones do not.
    assert 0.3 * len(x) < shortcut < len(x)

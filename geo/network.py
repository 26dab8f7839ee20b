"""Walking distances along a road network: the 15-minute life circle (15分钟生活圈, GB 50180-2018) measured
along streets instead of as the crow flies (issue 20).

A network is built from road centre lines (WGS84), noded where they cross and projected into the metric zone
of their centre (:func:`geo.crs.metric_zones`). A place (a facility, a building's door) joins the network
at the nearest point of the nearest road: the straight way there (the *access* leg) plus the way along that
road to either end. Distances from every facility of a kind at once are one multi-source Dijkstra
(``scipy.sparse.csgraph.dijkstra`` from a virtual source joined to each facility's road ends, stopped at the
reach), which ``bench/network.py`` measured against networkx. Every leg of a network route is at least as long
as the straight line it replaces, so a network catchment is never larger than the straight-line one (the
test on the real roads of Helsinki checks it).

An isochrone is the part of every road within reach (each road cut where the remaining distance runs out),
widened by ``buffer_m`` metres either side: the strip a walker reaches, not a convex hull over blocks
nobody can enter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from geo.crs import metric_zones

WALK_KMH = 4.0  # 1,000 m in 15 minutes: the outer radius of the 15-minute circle in GB 50180-2018
MINUTES = 15.0
SNAP_M = 0.5  # road ends closer than this are one node
MAX_ACCESS_M = 500.0  # a place farther than this from every road is not on the network (unreached)
ISOCHRONE_BUFFER_M = 60.0


@dataclass(frozen=True)
class WalkParams:
    """Walking speed (km/h) and minutes, for every kind unless ``per_kind`` names its minutes."""

    speed_kmh: float = WALK_KMH
    minutes: float = MINUTES
    per_kind: dict[str, float] = field(default_factory=dict)

    def minutes_of(self, kind: str) -> float:
        """The walking time (minutes) within which a facility of ``kind`` serves a place."""
        return float(self.per_kind.get(kind, self.minutes))

    def reach_m(self, kind: str) -> float:
        """Metres walked in the kind's minutes.

        >>> WalkParams(per_kind={"kindergarten": 5}).reach_m("kindergarten")
        333.33
        """
        return round(self.speed_kmh * 1000 / 60 * self.minutes_of(kind), 2)


@dataclass
class Access:
    """Where places join the network: the road (edge) index, the metres along it from its first node, and the
    straight access leg; ``edge`` is -1 where no road is within reach of the place.
    """

    edge: NDArray[np.int64]
    along: NDArray[np.float64]
    offset: NDArray[np.float64]


@dataclass
class Network:
    """A road network in metres: node coordinates, edges (first and last node, length, line) and the graph."""

    crs: pyproj.CRS
    nodes: NDArray[np.float64]
    u: NDArray[np.int64]
    v: NDArray[np.int64]
    length: NDArray[np.float64]
    lines: NDArray[np.object_]
    graph: csr_matrix
    _tree: Any = None

    @classmethod
    def from_lines(cls, lines: ArrayLike, *, snap_m: float = SNAP_M, node: bool = True) -> Network:
        """The network of WGS84 road centre lines, noded where they cross or meet (``node=False``: only where
        they end, for data already split at its junctions, such as OpenStreetMap ways whose bridges cross
        roads they do not meet).

        >>> net = Network.from_lines([shapely.LineString([(116.40, 39.90), (116.41, 39.90)]),
        ...                           shapely.LineString([(116.405, 39.895), (116.405, 39.905)])])
        >>> len(net.nodes), len(net.u), round(float(net.length.sum()))
        (5, 4, 1966)
        """
        geoms = np.asarray(lines, dtype=object)
        geoms = geoms[~shapely.is_empty(geoms)]
        if not len(geoms):
            raise ValueError("a network needs at least one road")
        c = shapely.centroid(shapely.GeometryCollection(list(geoms)))
        crs = pyproj.CRS.from_epsg(int(metric_zones([c.x], [c.y])[0]))
        fwd = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        metric = shapely.transform(geoms, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))
        parts = shapely.get_parts(metric)
        noded = shapely.get_parts(shapely.node(shapely.multilinestrings(parts))) if node else parts
        noded = noded[shapely.length(noded) > 0]
        first = shapely.get_coordinates(shapely.get_point(noded, 0))
        last = shapely.get_coordinates(shapely.get_point(noded, -1))
        keys = np.round(np.vstack([first, last]) / snap_m).astype(np.int64)
        uniq, idx = np.unique(keys, axis=0, return_inverse=True)
        idx = idx.ravel()
        nodes = uniq * snap_m
        u, v = idx[: len(noded)], idx[len(noded):]
        keep = u != v
        u, v, noded = u[keep], v[keep], noded[keep]
        length = shapely.length(noded)
        n = len(nodes)
        g = _min_duplicates(u, v, length, n)  # two roads between the same nodes: the shorter counts
        return cls(crs, nodes, u, v, length, noded, g)

    def to_metric(self, geoms: ArrayLike) -> NDArray[np.object_]:
        """WGS84 geometries in the network's metric CRS."""
        fwd = pyproj.Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
        return shapely.transform(np.asarray(geoms, dtype=object),
                                 lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))

    def to_wgs84(self, geom: Any) -> Any:
        """A geometry of the network's metric CRS back in WGS84."""
        inv = pyproj.Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        return shapely.transform(geom, lambda xy: np.column_stack(inv.transform(xy[:, 0], xy[:, 1])))

    def locate(self, points: ArrayLike, *, max_access_m: float = MAX_ACCESS_M) -> Access:
        """Where each WGS84 point joins the network (the nearest point of the nearest road)."""
        pts = self.to_metric(points)
        if self._tree is None:
            self._tree = shapely.STRtree(self.lines)
        edge = np.full(len(pts), -1, dtype=np.int64)
        along = np.zeros(len(pts))
        offset = np.full(len(pts), np.inf)
        if len(pts):
            (pi, ei), dist = self._tree.query_nearest(pts, max_distance=max_access_m, return_distance=True,
                                                      all_matches=False)
            edge[pi], offset[pi] = ei, dist
            along[pi] = shapely.line_locate_point(self.lines[ei], pts[pi])
        return Access(edge, along, offset)

    def node_distances(self, src: Access, limit_m: float) -> NDArray[np.float64]:
        """Metres from the nearest source to every node (``inf`` beyond ``limit_m``): one Dijkstra from a
        virtual node joined to both ends of each source's road by its access leg and the way along.
        """
        ok = src.edge >= 0
        n = len(self.nodes)
        if not ok.any():
            return np.full(n, np.inf)
        e, a, off = src.edge[ok], src.along[ok], src.offset[ok]
        to = np.concatenate([self.u[e], self.v[e]])
        w = np.concatenate([off + a, off + (self.length[e] - a)])
        g = self.graph.tocoo()
        rows = np.concatenate([g.row, np.full(len(to), n)])
        cols = np.concatenate([g.col, to])
        data = np.concatenate([g.data, np.maximum(w, 1e-9)])  # csgraph reads an explicit 0 as no edge
        big = _min_duplicates_coo(rows, cols, data, n + 1)
        return dijkstra(big, directed=True, indices=n, limit=limit_m)[:n]

    def place_distances(self, node_dist: NDArray, src: Access, dst: Access) -> NDArray[np.float64]:
        """Metres from the nearest source to each destination place: through either end of its road, or along
        the road itself when a source joins the same road.
        """
        out = np.full(len(dst.edge), np.inf)
        ok = dst.edge >= 0
        e, a, off = dst.edge[ok], dst.along[ok], dst.offset[ok]
        via = np.minimum(node_dist[self.u[e]] + a, node_dist[self.v[e]] + (self.length[e] - a))
        best = via + off
        same = src.edge >= 0
        if same.any():
            by_edge: dict[int, list[tuple[float, float]]] = {}
            for se, sa, so in zip(src.edge[same], src.along[same], src.offset[same], strict=True):
                by_edge.setdefault(int(se), []).append((float(sa), float(so)))
            for k, (ee, aa, oo) in enumerate(zip(e, a, off, strict=True)):
                for sa, so in by_edge.get(int(ee), ()):
                    best[k] = min(best[k], so + abs(aa - sa) + oo)
        out[ok] = best
        return out

    def isochrone(self, node_dist: NDArray, reach_m: float, src: Access, *,
                  buffer_m: float = ISOCHRONE_BUFFER_M) -> Any:
        """The roads within ``reach_m`` of the sources, widened by ``buffer_m``, as a WGS84 (multi)polygon."""
        from shapely.ops import substring

        du, dv = node_dist[self.u], node_dist[self.v]
        parts = []
        full = (du + self.length <= reach_m) | (dv + self.length <= reach_m)
        parts += list(self.lines[full])
        for i in np.flatnonzero(~full & (np.isfinite(du) | np.isfinite(dv))):
            if du[i] < reach_m:
                parts.append(substring(self.lines[i], 0, reach_m - du[i]))
            if dv[i] < reach_m:
                parts.append(substring(self.lines[i], self.length[i] - (reach_m - dv[i]), self.length[i]))
        ok = src.edge >= 0
        for e, a, off in zip(src.edge[ok], src.along[ok], src.offset[ok], strict=True):
            left = reach_m - off
            if left > 0:  # the road a facility stands on, both ways from its door
                parts.append(substring(self.lines[e], max(0.0, a - left), min(self.length[e], a + left)))
        if not parts:
            return shapely.Polygon()
        area = shapely.union_all(shapely.buffer(np.asarray(parts, dtype=object), buffer_m, quad_segs=4))
        return self.to_wgs84(shapely.simplify(area, buffer_m / 10))


def _min_duplicates(u: NDArray, v: NDArray, length: NDArray, n: int) -> csr_matrix:
    return _min_duplicates_coo(np.concatenate([u, v]), np.concatenate([v, u]), np.concatenate([length, length]), n)


def _min_duplicates_coo(rows: NDArray, cols: NDArray, data: NDArray, n: int) -> csr_matrix:
    """A sparse matrix keeping the smallest of duplicate entries (two roads between the same two nodes)."""
    order = np.lexsort((data, cols, rows))
    r, c, d = rows[order], cols[order], data[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    return csr_matrix((d[first], (r[first], c[first])), shape=(n, n))


@dataclass
class KindReach:
    """One facility kind: each place's walking distance (metres, ``inf`` beyond reach) and the isochrone."""

    kind: str
    reach_m: float
    minutes: float
    distance_m: NDArray[np.float64]
    isochrone: Any


def walk_catchments(net: Network, places: ArrayLike, facility_points: ArrayLike, facility_kinds: ArrayLike,
                    params: WalkParams, *, kinds: tuple[str, ...] | None = None,
                    isochrones: bool = True) -> list[KindReach]:
    """Per facility kind: the network distance from each of ``places`` (WGS84 points, e.g. buildings) to the
    nearest facility of the kind, within the kind's minutes at the walking speed, and the isochrone.

    >>> roads = [shapely.LineString([(116.40, 39.90), (116.42, 39.90)])]
    >>> net = Network.from_lines(roads)
    >>> out = walk_catchments(net, shapely.points([[116.401, 39.9001], [116.415, 39.9001]]),
    ...                       shapely.points([[116.40, 39.9001]]), ["clinic"], WalkParams())
    >>> [round(float(d)) if np.isfinite(d) else None for d in out[0].distance_m]  # 11 m to the road, 86 along, 11
    [108, None]
    """
    fpts = np.asarray(facility_points, dtype=object)
    fk = np.asarray(facility_kinds, dtype=object)
    kinds = kinds if kinds is not None else tuple(sorted(set(fk.tolist())))
    dst = net.locate(places)
    out = []
    for kind in kinds:
        reach = params.reach_m(kind)
        src = net.locate(fpts[fk == kind])
        nd = net.node_distances(src, reach)
        d = net.place_distances(nd, src, dst)
        d = np.where(d <= reach, d, np.inf)
        iso = net.isochrone(nd, reach, src) if isochrones else None
        out.append(KindReach(kind, reach, params.minutes_of(kind), d, iso))
    return out

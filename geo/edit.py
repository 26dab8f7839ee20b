"""Pure geometry of the planner's edits: check, snap, split, merge, clip, reassign a footprint.

Everything takes and returns shapely geometries in WGS84 degrees and knows nothing of HTTP or SQL
(``api/planner`` fetches the neighbours and writes the results). Results are put on the same
precision grid as the stored data and the coverage analysis (:data:`geo.overlay.GRID_SIZE`, 1e-7°,
about 1 cm), so that neighbouring grids that share vertices keep meeting in lines, not slivers.

An edit that cannot be made raises :class:`EditError` with a machine-readable ``code`` that the API
turns into a problem+json answer; the geometry functions never repair silently what a planner drew
(a self-intersecting ring is refused, not "fixed" into something else).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from shapely import LineString, MultiPolygon, Polygon
from shapely.ops import split as _split

from geo.crs import area_m2
from geo.overlay import GRID_SIZE

#: Metres in one degree of latitude (mean); longitude degrees shrink with cos(latitude).
M_PER_DEG = 111_320.0


class EditError(Exception):
    """An edit that cannot be made; ``code`` says why for machines, the message for people."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


def metres_to_degrees(metres: float, lat: float) -> float:
    """A distance in metres as degrees of longitude at ``lat`` (the larger of the two degree sizes,
    so that a snapping tolerance is never smaller than asked in either direction).

    >>> round(metres_to_degrees(2.0, 0.0) * 1e6, 2)
    17.97
    >>> metres_to_degrees(2.0, 40.0) > metres_to_degrees(2.0, 0.0)
    True
    """
    return metres / (M_PER_DEG * max(math.cos(math.radians(lat)), 0.01))


def as_multipolygon(geom: shapely.Geometry) -> MultiPolygon:
    """Polygon → MultiPolygon of one part; a MultiPolygon is returned as is.

    >>> as_multipolygon(shapely.box(0, 0, 1, 1)).geom_type
    'MultiPolygon'
    """
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]
    polys: list[Polygon] = []
    for p in parts:
        polys.extend(shapely.get_parts(p) if isinstance(p, MultiPolygon) else [p])
    return MultiPolygon(polys)


def check_polygon(geom: shapely.Geometry | None, *, what: str = "geometry") -> MultiPolygon:
    """A drawn polygon as a MultiPolygon on the precision grid, or :class:`EditError`
    ``invalid_geometry`` saying what is wrong with it (self-intersection, empty, wrong type, not lon/lat).

    >>> check_polygon(shapely.box(116.4, 39.9, 116.41, 39.91)).geom_type
    'MultiPolygon'
    >>> bowtie = Polygon([(116.4, 39.9), (116.41, 39.91), (116.41, 39.9), (116.4, 39.91)])
    >>> try:
    ...     check_polygon(bowtie)
    ... except EditError as e:
    ...     print(e.code, e.extra["reason"].startswith("Self-intersection"))
    invalid_geometry True
    """
    if geom is None or geom.is_empty:
        raise EditError("invalid_geometry", f"the {what} is empty", reason="empty")
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise EditError("invalid_geometry", f"the {what} must be a Polygon or MultiPolygon, not {geom.geom_type}",
                        reason="wrong_type")
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all() or (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
        raise EditError("invalid_geometry", f"the {what} has coordinates that are not WGS84 longitude/latitude",
                        reason="coordinates_out_of_range")
    geom = shapely.force_2d(geom)
    if not geom.is_valid:
        why = shapely.is_valid_reason(geom)
        raise EditError("invalid_geometry", f"the {what} is not a valid polygon ({why}); redraw it", reason=why)
    fixed = shapely.set_precision(geom, GRID_SIZE)
    if fixed.is_empty or not fixed.is_valid:
        raise EditError("invalid_geometry", f"the {what} collapses at 1 cm precision", reason="collapsed")
    return as_multipolygon(fixed)


def check_line(geom: shapely.Geometry | None) -> LineString:
    """A drawn cutting line, refused unless it is a LineString of at least two distinct points.

    >>> check_line(LineString([(0, 0), (1, 1)])).length > 0
    True
    """
    if geom is None or geom.is_empty or geom.geom_type != "LineString" or geom.length == 0:
        raise EditError("invalid_geometry", "the cutting line must be a LineString of two or more distinct points",
                        reason="wrong_type")
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        raise EditError("invalid_geometry", "the cutting line has non-finite coordinates", reason="not_finite")
    return shapely.force_2d(geom)


def snap(geom: shapely.Geometry, reference: shapely.Geometry | None, tolerance_deg: float, *,
         keep: shapely.Geometry | None = None) -> MultiPolygon:
    """Move the vertices of ``geom`` that are within ``tolerance_deg`` of ``reference`` onto it: first onto
    its nearest vertex, then the ones still near onto its nearest edge. Vertices that ``keep`` (the grid as
    it was) already has are left where they are: only what the planner moved or drew is snapped. The
    result is valid and on the precision grid, else the unsnapped polygon is kept (snapping must never
    break a drawing).

    >>> a = shapely.box(0, 0, 1, 1)
    >>> drawn = Polygon([(1.00001, 0.2), (2, 0.2), (2, 0.8), (1.00001, 0.8)])   # 1e-5 off a's east edge
    >>> snapped = snap(drawn, a.boundary, 1e-4)
    >>> round(snapped.bounds[0], 7), round(shapely.intersection(snapped, a).area, 9)
    (1.0, 0.0)
    """
    geom = as_multipolygon(geom)
    if reference is None or reference.is_empty or tolerance_deg <= 0:
        return geom
    ref = shapely.boundary(reference) if reference.geom_type in ("Polygon", "MultiPolygon") else reference
    # 1. each vertex onto the nearest reference vertex within the tolerance (GEOS snapping takes the first
    #    one it meets and leaves a vertex alone when it already lies on a reference line)
    coords = shapely.get_coordinates(geom)
    frozen = np.zeros(len(coords), dtype=bool)
    if keep is not None:
        old = {tuple(c) for c in shapely.get_coordinates(keep)}
        frozen = np.array([tuple(c) in old for c in coords], dtype=bool)
    free = np.flatnonzero(~frozen)
    ref_pts = shapely.points(np.unique(shapely.get_coordinates(ref), axis=0))
    if len(free):
        src, hit = shapely.STRtree(ref_pts).query_nearest(shapely.points(coords[free]), max_distance=tolerance_deg,
                                                           all_matches=False)
        coords[free[src]] = shapely.get_coordinates(ref_pts[hit])
    out = shapely.set_coordinates(shapely.force_2d(geom), coords)
    if keep is None:
        # 2. reference vertices that lie on our edges become our vertices too (no T-junction slivers)
        out = shapely.snap(out, ref, tolerance_deg)
    # 3. vertices still near a reference line go onto it
    coords = shapely.get_coordinates(out)
    pts = shapely.points(coords)
    d = shapely.distance(pts, ref)
    near = (d > 0) & (d <= tolerance_deg)
    if keep is not None:
        old = {tuple(c) for c in shapely.get_coordinates(keep)}
        near &= ~np.array([tuple(c) in old for c in coords], dtype=bool)
    if near.any():
        onto = shapely.line_interpolate_point(ref, shapely.line_locate_point(ref, pts[near]))
        coords[near] = shapely.get_coordinates(onto)
        out = shapely.set_coordinates(out, coords)
    out = shapely.set_precision(out, GRID_SIZE)
    if out.is_empty or not out.is_valid or out.geom_type not in ("Polygon", "MultiPolygon"):
        return as_multipolygon(shapely.set_precision(geom, GRID_SIZE))
    return as_multipolygon(out)


def _extend_to(line: LineString, geom: shapely.Geometry, by: float) -> LineString:
    """The line with each end that stops inside ``geom`` carried on along its last segment to ``geom``'s
    boundary, then ``by`` degrees further: a cut drawn short of the edge (the edge out of view) still cuts.

    >>> np.round(_extend_to(LineString([(1, 0.5), (1, 1.5)]), shapely.box(0, 0, 2, 2), 0.1).coords, 6).tolist()
    [[1.0, -0.1], [1.0, 2.1]]
    """
    c = np.asarray(line.coords, dtype=float)
    ring = shapely.boundary(geom)
    span = float(np.hypot(geom.bounds[2] - geom.bounds[0], geom.bounds[3] - geom.bounds[1]))
    for end, prev in ((0, 1), (-1, -2)):
        v = c[end] - c[prev]
        n = float(np.hypot(*v))
        if n == 0:
            continue
        u = v / n
        reach = 0.0
        if shapely.contains_xy(geom, *c[end]):
            ray = LineString([c[end], c[end] + u * (span + by + 1e-9)])
            hits = shapely.intersection(ray, ring)
            if not hits.is_empty:
                reach = min(float(shapely.distance(shapely.Point(c[end]), p)) for p in shapely.get_parts(hits))
        c[end] = c[end] + u * (reach + by)
    return LineString(c)


def keep_buildings_whole(first: shapely.Geometry, second: shapely.Geometry,
                         footprints: list[tuple[str, shapely.Geometry]]) -> tuple[MultiPolygon, MultiPolygon,
                                                                                  list[dict[str, Any]]]:
    """Undo the cut through each building a split line crossed: the building's part inside the grid goes
    whole to the piece holding most of its footprint. Returns both pieces and, per building moved,
    ``{"building_code", "piece": 0 | 1, "share"}`` (``share``: the fraction of the footprint that piece held).

    >>> a, b, moved = keep_buildings_whole(shapely.box(0, 0, 1, 2), shapely.box(1, 0, 2, 2),
    ...                                    [("B1", shapely.box(0.7, 1, 1.1, 1.2))])
    >>> moved, round(a.area, 2), round(b.area, 2)
    ([{'building_code': 'B1', 'piece': 0, 'share': 0.75}], 2.02, 1.98)
    """
    moved: list[dict[str, Any]] = []
    pieces = [as_multipolygon(first), as_multipolygon(second)]
    for code, fp in footprints:
        shares = [float(shapely.area(shapely.intersection(p, fp, grid_size=GRID_SIZE))) for p in pieces]
        total = sum(shares)
        if total <= 0 or min(shares) <= total * 1e-6:
            continue
        to = 0 if shares[0] >= shares[1] else 1
        part = shapely.intersection(fp, shapely.union_all(pieces, grid_size=GRID_SIZE), grid_size=GRID_SIZE)
        pieces[to] = shapely.union(pieces[to], part, grid_size=GRID_SIZE)
        pieces[1 - to] = shapely.difference(pieces[1 - to], part, grid_size=GRID_SIZE)
        if pieces[1 - to].is_empty or shapely.area(pieces[1 - to]) <= 0:
            raise EditError("split_failed", f"building {code} covers the whole of one side of the cut; draw the "
                            "line elsewhere or cut through buildings", pieces=1, building_code=code)
        moved.append({"building_code": code, "piece": to, "share": round(shares[to] / total, 3)})
    return as_multipolygon(pieces[0]), as_multipolygon(pieces[1]), moved


def split_polygon(geom: shapely.Geometry, line: LineString, *, extend_deg: float = 0.0
                  ) -> tuple[MultiPolygon, MultiPolygon]:
    """Cut a grid in exactly two along a line; returns ``(keeps_code, new_part)``.

    The rule: for a line running mostly north-south (east-west extent, in metres, smaller than its
    north-south extent) the western part keeps the grid's code; otherwise the northern part does.
    An end that stops inside the grid is carried on to its boundary, and both ends ``extend_deg`` further,
    so that a line drawn up to the edge, or short of an edge out of view, cuts.

    >>> square = shapely.box(0, 0, 2, 2)
    >>> west, east = split_polygon(square, LineString([(1, -0.1), (1, 2.1)]))
    >>> west.bounds, east.bounds
    ((0.0, 0.0, 1.0, 2.0), (1.0, 0.0, 2.0, 2.0))
    >>> north, south = split_polygon(square, LineString([(-0.1, 0.5), (2.1, 0.5)]))
    >>> north.bounds[1], south.bounds[3]
    (0.5, 0.5)
    >>> west, east = split_polygon(square, LineString([(1, 0.5), (1, 1.5)]))   # ends carried to the edge
    >>> west.bounds
    (0.0, 0.0, 1.0, 2.0)
    >>> try:
    ...     split_polygon(square, LineString([(0.5, -0.1), (1.5, -0.1)]))
    ... except EditError as e:
    ...     print(e.code, e.extra["pieces"])
    split_failed 1
    """
    line = _extend_to(line, geom, extend_deg)
    pieces: list[Polygon] = []
    for part in shapely.get_parts(as_multipolygon(geom)):
        pieces.extend(shapely.get_parts(_split(part, line)))
    pieces = [shapely.set_precision(p, GRID_SIZE) for p in pieces]
    pieces = [p for p in pieces if not p.is_empty and p.area > 0]
    if len(pieces) != 2:
        raise EditError("split_failed", f"the line must cut the grid in exactly two pieces; it makes {len(pieces)}"
                        " (draw it across the grid, from edge to edge, once)", pieces=len(pieces))
    lon0, lat0, lon1, lat1 = line.bounds
    ns = (lon1 - lon0) * math.cos(math.radians((lat0 + lat1) / 2)) < (lat1 - lat0)
    c = [p.centroid for p in pieces]
    if ns:
        first = 0 if c[0].x <= c[1].x else 1
    else:
        first = 0 if c[0].y >= c[1].y else 1
    return as_multipolygon(pieces[first]), as_multipolygon(pieces[1 - first])


def shared_edge_graph_connected(geoms: list[shapely.Geometry], *, min_length_deg: float = 1e-7) -> bool:
    """Whether the polygons form one group in which neighbours share an edge (not only a point).

    >>> shared_edge_graph_connected([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)])
    True
    >>> shared_edge_graph_connected([shapely.box(0, 0, 1, 1), shapely.box(1, 1, 2, 2)])   # corner only
    False
    """
    n = len(geoms)
    if n < 2:
        return n == 1
    seen, todo = {0}, [0]
    while todo:
        i = todo.pop()
        for j in range(n):
            if j in seen:
                continue
            shared = shapely.intersection(shapely.boundary(geoms[i]), geoms[j], grid_size=GRID_SIZE)
            inter = shapely.intersection(geoms[i], geoms[j], grid_size=GRID_SIZE)
            if shapely.length(shared) > min_length_deg or shapely.area(inter) > 0:
                seen.add(j)
                todo.append(j)
    return len(seen) == n


def merge_polygons(geoms: list[shapely.Geometry]) -> MultiPolygon:
    """The union of grids that share edges, on the precision grid.

    >>> merge_polygons([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]).bounds
    (0.0, 0.0, 2.0, 1.0)
    """
    if len(geoms) < 2:
        raise EditError("merge_failed", "merge needs at least two grids")
    if not shared_edge_graph_connected(geoms):
        raise EditError("merge_failed", "the grids must share an edge with each other (touching at a point is not "
                        "enough)", reason="not_adjacent")
    out = shapely.union_all(np.asarray(geoms, dtype=object), grid_size=GRID_SIZE)
    return as_multipolygon(out)


def clip_to_free(geom: shapely.Geometry, occupied: shapely.Geometry | None, *, min_area_m2: float = 1.0
                 ) -> MultiPolygon:
    """What of a new polygon is not covered yet: ``geom`` minus ``occupied``, without parts smaller than
    ``min_area_m2`` (slivers along the neighbours' edges).

    >>> clip_to_free(shapely.box(116.40, 39.90, 116.42, 39.91), shapely.box(116.41, 39.89, 116.43, 39.92)).bounds
    (116.4, 39.9, 116.41, 39.91)
    """
    out = as_multipolygon(geom)
    if occupied is not None and not occupied.is_empty:
        out = as_multipolygon(shapely.difference(out, occupied, grid_size=GRID_SIZE))
    parts = np.asarray(shapely.get_parts(out), dtype=object)
    if len(parts):
        parts = parts[area_m2(parts) >= min_area_m2]
    if not len(parts):
        raise EditError("edit_failed", "nothing of the new grid is left once the existing grids are cut out "
                        "(draw it over the uncovered area)", reason="no_free_space")
    return MultiPolygon(list(parts))


def assign_footprint(target: shapely.Geometry, others: list[shapely.Geometry], footprint: shapely.Geometry
                     ) -> tuple[MultiPolygon, list[MultiPolygon | None]]:
    """Give a building footprint wholly to ``target``: added to it, cut from every other grid. An other
    grid left with nothing is returned as None (the caller refuses that: deleting a grid is its own edit).

    >>> t, o = assign_footprint(shapely.box(0, 0, 1, 1), [shapely.box(1, 0, 2, 1)], shapely.box(0.8, 0.2, 1.2, 0.4))
    >>> round(t.area, 6), round(o[0].area, 6)
    (1.04, 0.96)
    """
    if not shapely.intersects(shapely.buffer(target, GRID_SIZE), footprint):
        raise EditError("edit_failed", "the building does not touch the grid; move the grid's boundary first",
                        reason="not_adjacent")
    new_target = as_multipolygon(shapely.union(target, footprint, grid_size=GRID_SIZE))
    out: list[MultiPolygon | None] = []
    for o in others:
        rest = shapely.difference(o, footprint, grid_size=GRID_SIZE)
        out.append(None if rest.is_empty or rest.area == 0 else as_multipolygon(rest))
    return new_target, out


def area_outside(geom: shapely.Geometry, container: shapely.Geometry) -> float:
    """Area (m²) of ``geom`` that lies outside ``container``.

    >>> round(area_outside(shapely.box(116.40, 39.90, 116.41, 39.91), shapely.box(116.40, 39.90, 116.41, 39.91)), 3)
    0.0
    >>> 850_000 < area_outside(shapely.box(116.40, 39.90, 116.41, 39.91), shapely.box(0, 0, 1, 1)) < 960_000
    True
    """
    rest = shapely.difference(geom, container, grid_size=GRID_SIZE)
    return 0.0 if rest.is_empty else float(area_m2([rest])[0])

"""The planner's pure geometry (geo/edit.py) beyond its doctests: snapping, splitting, merging, clipping."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely import LineString, MultiPolygon, Polygon

from geo.edit import (
    EditError,
    area_outside,
    assign_footprint,
    check_line,
    check_polygon,
    clip_to_free,
    merge_polygons,
    metres_to_degrees,
    snap,
    split_polygon,
)
from geo.overlay import GRID_SIZE

LON, LAT = 116.40, 39.92
D = 0.001  # ~85 m east-west, ~111 m north-south


def box(i: int, j: int, n: int = 1) -> Polygon:
    return shapely.box(LON + i * D, LAT + j * D, LON + (i + n) * D, LAT + (j + n) * D)


def test_check_polygon_refuses_what_cannot_be_a_grid() -> None:
    for bad, reason in [
        (Polygon([(LON, LAT), (LON + D, LAT + D), (LON + D, LAT), (LON, LAT + D)]), "Self-intersection"),
        (shapely.Point(LON, LAT), "wrong_type"),
        (Polygon(), "empty"),
        (shapely.box(200, 0, 201, 1), "coordinates_out_of_range"),
        (Polygon([(LON, LAT), (LON + 1e-9, LAT), (LON, LAT + 1e-9)]), "collapsed"),
    ]:
        with pytest.raises(EditError) as info:
            check_polygon(bad)
        assert info.value.code == "invalid_geometry" and info.value.extra["reason"].startswith(reason)
    out = check_polygon(shapely.box(LON, LAT, LON + D * 1.23456789123, LAT + D))
    assert isinstance(out, MultiPolygon)
    assert np.allclose(shapely.get_coordinates(out), np.round(shapely.get_coordinates(out), 7))
    with pytest.raises(EditError):
        check_line(shapely.Point(0, 0))


def test_snap_moves_drawn_vertices_onto_neighbours_and_leaves_kept_ones() -> None:
    left = box(0, 0)
    tol = metres_to_degrees(2.0, LAT)
    # drawn to the right of `left`, its west edge 1 m off `left`'s east edge, one vertex 1 m off a corner
    off = tol / 2
    drawn = Polygon([(LON + D + off, LAT + off), (LON + 2 * D, LAT), (LON + 2 * D, LAT + D),
                     (LON + D + off, LAT + D * 0.6)])
    out = snap(drawn, left.boundary, tol)
    xs = shapely.get_coordinates(out)[:, 0]
    corner = (round(LON + D, 7), round(LAT, 7))
    assert np.isclose(xs.min(), LON + D, atol=GRID_SIZE)
    assert corner in [tuple(np.round(c, 7)) for c in shapely.get_coordinates(out)]
    assert shapely.intersection(out, left).area < 1e-14
    # a vertex the grid already had does not move, even near a neighbour
    kept = snap(drawn, left.boundary, tol, keep=drawn)
    assert shapely.equals(kept, shapely.set_precision(drawn, GRID_SIZE))
    # nothing to snap to within the tolerance: unchanged
    far = snap(box(5, 5), left.boundary, tol)
    assert shapely.hausdorff_distance(far, box(5, 5)) < GRID_SIZE


@pytest.mark.parametrize("angle", [0, 10, 40, 50, 80, 90, 130, 170])  # not 45°: a tie by definition
def test_split_rule_west_or_north_keeps_the_code(angle: float) -> None:
    square = box(0, 0, 4)
    c = square.centroid
    r = np.radians(angle)
    # a long line through the centre at `angle` degrees from north (in metres)
    dx, dy = np.sin(r) * 0.01 / np.cos(np.radians(LAT)), np.cos(r) * 0.01
    line = LineString([(c.x - dx, c.y - dy), (c.x + dx, c.y + dy)])
    keep, new = split_polygon(square, line)
    assert abs(keep.area + new.area - square.area) < 1e-12
    ns = abs(dx) * np.cos(np.radians(LAT)) < abs(dy)
    if ns:
        assert keep.centroid.x < new.centroid.x
    else:
        assert keep.centroid.y > new.centroid.y


def test_split_carries_a_short_line_to_the_edge_and_refuses_three_pieces() -> None:
    square = box(0, 0, 2)
    short = LineString([(LON + D, LAT + 1e-6), (LON + D, LAT + 2 * D - 1e-6)])  # stops 10 cm short of both edges
    keep, new = split_polygon(square, short)  # issue 24: ends that stop inside are carried to the boundary
    assert keep.centroid.x < new.centroid.x and abs(keep.area - new.area) < 1e-12
    keep, new = split_polygon(square, short, extend_deg=metres_to_degrees(2, LAT))
    assert keep.centroid.x < new.centroid.x
    u = shapely.union(box(0, 0, 3), box(3, 0, 1))  # an L: a vertical cut through both arms gives 3 pieces
    zigzag = LineString([(LON + 0.5 * D, LAT - D), (LON + 0.5 * D, LAT + 4 * D), (LON + 3.5 * D, LAT + 4 * D),
                         (LON + 3.5 * D, LAT - D)])
    with pytest.raises(EditError) as info:
        split_polygon(u, zigzag)
    assert info.value.code == "split_failed" and info.value.extra["pieces"] > 2


def test_merge_needs_shared_edges() -> None:
    merged = merge_polygons([box(0, 0), box(1, 0), box(2, 0)])
    assert len(merged.geoms) == 1 and abs(merged.area - 3 * box(0, 0).area) < 1e-14
    with pytest.raises(EditError):
        merge_polygons([box(0, 0), box(1, 1)])
    with pytest.raises(EditError):
        merge_polygons([box(0, 0), box(5, 5)])
    with pytest.raises(EditError):
        merge_polygons([box(0, 0)])


def test_clip_to_free_and_assign_footprint() -> None:
    taken = shapely.union(box(0, 0), box(1, 0))
    drawn = box(0, 0, 2)
    free = clip_to_free(drawn, taken)
    assert abs(free.area - (drawn.area - taken.area)) < 1e-14
    with pytest.raises(EditError):
        clip_to_free(box(0, 0), taken)
    b = shapely.box(LON + 0.9 * D, LAT + 0.2 * D, LON + 1.2 * D, LAT + 0.4 * D)
    t, (o,) = assign_footprint(box(0, 0), [box(1, 0)], b)
    assert shapely.covers(t, b) and shapely.intersection(o, b).area < 1e-15
    assert abs(t.area + o.area - 2 * box(0, 0).area) < 1e-13
    with pytest.raises(EditError):
        assign_footprint(box(0, 0), [], shapely.box(LON + 5 * D, LAT, LON + 6 * D, LAT + D))
    _, (gone,) = assign_footprint(box(0, 0), [b], b)
    assert gone is None


def test_area_outside_is_in_square_metres() -> None:
    inner = box(0, 0)
    assert area_outside(inner, box(0, 0, 2)) == 0.0
    half = area_outside(box(0, 0, 2), box(0, 0, 1))
    whole = area_outside(box(0, 0, 2), box(10, 10))
    assert abs(half / whole - 0.75) < 1e-3 and 30_000 < whole < 45_000

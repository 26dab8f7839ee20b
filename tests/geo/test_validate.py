"""Polygon checks and repairs on real, imperfect OpenStreetMap footprints (Helsinki, ODbL)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyogrio
import shapely

from geo.validate import check_polygons

DATA = Path(__file__).resolve().parents[1] / "data"


def test_real_invalid_footprints_are_repaired_or_refused_by_area() -> None:
    gdf = pyogrio.read_dataframe(DATA / "helsinki_buildings.geojson")
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    invalid = ~shapely.is_valid(geoms)
    assert invalid.sum() >= 10  # the data set is as mapped: about 2.5 % invalid
    out = check_polygons(geoms, single=True)
    # Every accepted geometry is valid and a single polygon; nothing valid was touched.
    accepted = ~out.refused
    assert shapely.is_valid(out.geometry[accepted]).all()
    assert (shapely.get_type_id(out.geometry[accepted]) == 3).all()
    assert not out.repaired[~invalid].any()
    # Repairs keep the area within 1 %; refusals are either degenerate or area-changing.
    for i in np.flatnonzero(out.repaired):
        assert abs(out.geometry[i].area - abs(geoms[i].area)) <= 0.01 * abs(geoms[i].area)
    refused_invalid = out.refused & invalid
    assert refused_invalid.any() and out.repaired.any()
    for i in np.flatnonzero(refused_invalid):
        assert "area" in out.reason[i]
    # The one valid multi-part footprint is refused as a building, with the way out named.
    multi = np.flatnonzero(shapely.get_type_id(geoms) == 6)
    assert multi.size == 1 and out.refused[multi[0]] and "--explode" in out.reason[multi[0]]


def test_multi_mode_returns_multipolygons() -> None:
    out = check_polygons([shapely.box(0, 0, 1, 1)], single=False)
    assert out.geometry[0].geom_type == "MultiPolygon"

"""Chinese coordinate offsets: published vectors, round trips, and the outside-China rule."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from geo import crs

GEOD = Geod(ellps="WGS84")


def test_forward_matches_published_coordtransform_vectors() -> None:
    # The coordtransform npm package's README: wgs84togcj02 and gcj02tobd09 of (116.404, 39.915).
    lon, lat = crs.wgs84_to_gcj02(116.404, 39.915)
    assert (float(lon), float(lat)) == pytest.approx((116.41024449916938, 39.91640428150164), abs=1e-12)
    lon, lat = crs.gcj02_to_bd09(116.404, 39.915)
    assert (float(lon), float(lat)) == pytest.approx((116.41036949371029, 39.92133699351021), abs=1e-12)


@pytest.mark.parametrize("name", ["gcj02", "bd09"])
def test_inverse_round_trip_is_below_half_a_metre_across_china(name: str) -> None:
    rng = np.random.default_rng(7)
    lon = rng.uniform(73.7, 134.9, 20_000)
    lat = rng.uniform(18.2, 53.4, 20_000)
    forward = crs.wgs84_to_gcj02 if name == "gcj02" else crs.wgs84_to_bd09
    fx, fy = forward(lon, lat)
    bx, by = crs.to_wgs84(fx, fy, name)
    _, _, dist = GEOD.inv(lon, lat, bx, by)
    assert dist.max() < 0.5
    # The offset itself is hundreds of metres, so the test would notice a missing conversion.
    _, _, shift = GEOD.inv(lon, lat, fx, fy)
    assert np.median(shift) > 100


def test_points_outside_china_are_left_unshifted() -> None:
    lon, lat = np.array([2.35, -73.57]), np.array([48.85, 45.50])
    gx, gy = crs.wgs84_to_gcj02(lon, lat)
    np.testing.assert_array_equal(gx, lon)
    np.testing.assert_array_equal(gy, lat)
    wx, wy = crs.to_wgs84(lon, lat, "gcj02")
    np.testing.assert_array_equal(wx, lon)


def test_cgcs2000_is_taken_as_wgs84_and_gauss_kruger_goes_through_pyproj() -> None:
    assert crs.parse_crs("EPSG:4490").name == "cgcs2000"
    x, y = crs.to_wgs84([116.4], [39.9], "cgcs2000")
    assert (x[0], y[0]) == (116.4, 39.9)
    lon, lat = crs.to_wgs84([39_500_000.0 + 0.0], [4_419_000.0], "EPSG:4527")  # 3-degree GK with zone prefix
    assert 116 < lon[0] < 118 and 39 < lat[0] < 41


def test_unknown_crs_is_refused_with_a_clear_message() -> None:
    with pytest.raises(crs.UnknownCRS, match="use wgs84, cgcs2000, gcj02, bd09"):
        crs.parse_crs("EPSG:999999")

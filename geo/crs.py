"""Coordinate systems that Chinese clients send, normalised to WGS84 (EPSG:4326).

* ``wgs84`` (GPS, EPSG:4326) and ``cgcs2000`` (EPSG:4490): they differ by centimetres, so
  CGCS2000 is taken as WGS84, as Chinese surveying practice does at city scale.
* ``gcj02``: the obfuscated datum mandated for Chinese web maps (Amap, Tencent, WeChat).
* ``bd09``: Baidu's further offset of GCJ-02.
* anything pyproj knows (``EPSG:4547`` and the other CGCS2000 Gauss-Kruger zones in particular).

GCJ-02 and BD-09 are published only as forward functions (WGS84 → GCJ-02 → BD-09); there is no
closed-form inverse. :func:`gcj02_to_wgs84` inverts by fixed-point iteration, which converges to
well under a millimetre in a few steps because the offset varies slowly (its Jacobian is close to
the identity). Points outside China are left unshifted, as the apps themselves do.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by the GCJ-02 algorithm
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0

WGS84 = "wgs84"
CGCS2000 = "cgcs2000"
GCJ02 = "gcj02"
BD09 = "bd09"

_ALIASES = {
    "wgs84": WGS84, "wgs-84": WGS84, "epsg:4326": WGS84, "4326": WGS84, "gps": WGS84,
    "cgcs2000": CGCS2000, "epsg:4490": CGCS2000, "4490": CGCS2000,
    "gcj02": GCJ02, "gcj-02": GCJ02, "gcj": GCJ02, "amap": GCJ02, "mars": GCJ02,
    "bd09": BD09, "bd-09": BD09, "bd09ll": BD09, "baidu": BD09,
}


class UnknownCRS(ValueError):
    """The name is neither one of the Chinese datums above nor a CRS that pyproj knows."""


@dataclass(frozen=True, slots=True)
class CRSName:
    """A normalised CRS: ``name`` is ``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09`` or ``EPSG:nnnn``."""

    name: str

    @property
    def is_geographic_wgs84(self) -> bool:
        """Whether coordinates are WGS84 lon/lat as they stand (CGCS2000 is taken as WGS84)."""
        return self.name in (WGS84, CGCS2000)


def parse_crs(value: str | None, *, default: str = WGS84) -> CRSName:
    """Normalise a CRS name as clients spell it.

    >>> parse_crs("GCJ-02").name
    'gcj02'
    >>> parse_crs("epsg:4547").name
    'EPSG:4547'
    >>> parse_crs(None).name
    'wgs84'
    >>> parse_crs("mars-grid-7")
    Traceback (most recent call last):
    ...
    geo.crs.UnknownCRS: unknown CRS 'mars-grid-7': use wgs84, cgcs2000, gcj02, bd09 or an EPSG code
    """
    if value is None or value.strip() == "":
        return CRSName(default)
    key = value.strip().lower()
    if key in _ALIASES:
        return CRSName(_ALIASES[key])
    try:
        crs = pyproj.CRS.from_user_input(value.strip())
    except pyproj.exceptions.CRSError:
        raise UnknownCRS(
            f"unknown CRS {value!r}: use wgs84, cgcs2000, gcj02, bd09 or an EPSG code"
        ) from None
    epsg = crs.to_epsg()
    if epsg == 4326:
        return CRSName(WGS84)
    if epsg == 4490:
        return CRSName(CGCS2000)
    return CRSName(f"EPSG:{epsg}" if epsg else crs.to_string())


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """The rectangle outside which GCJ-02 apps apply no offset.

    >>> out_of_china([116.4, 2.35], [39.9, 48.85]).tolist()
    [False, True]
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    x, y = lon - 105.0, lat - 35.0
    sx = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The forward GCJ-02 offset (what Amap shows for a GPS position).

    The published test vector of the coordtransform package:

    >>> lon, lat = wgs84_to_gcj02(116.404, 39.915)
    >>> round(float(lon), 9), round(float(lat), 9)
    (116.410244499, 39.916404282)
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lon, lat)
    outside = out_of_china(lon, lat)
    return np.where(outside, lon, lon + dlon), np.where(outside, lat, lat + dlat)


def _invert(forward, lon: NDArray, lat: NDArray, tol: float = 1e-10, max_iter: int = 30):
    """Solve forward(w) = g for w by fixed-point iteration w ← w − (forward(w) − g)."""
    wx, wy = lon.copy(), lat.copy()
    for _ in range(max_iter):
        fx, fy = forward(wx, wy)
        ex, ey = fx - lon, fy - lat
        wx -= ex
        wy -= ey
        if np.all(np.abs(ex) < tol) and np.all(np.abs(ey) < tol):
            break
    return wx, wy


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Invert GCJ-02 to WGS84 (iterative; round trip below 1 mm inside China).

    >>> lon, lat = gcj02_to_wgs84(116.41024449916938, 39.91640428150164)
    >>> round(float(lon), 9), round(float(lat), 9)
    (116.404, 39.915)
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return _invert(wgs84_to_gcj02, lon, lat)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Baidu's BD-09 offset of a GCJ-02 point (applied everywhere, as Baidu does).

    >>> lon, lat = gcj02_to_bd09(116.404, 39.915)   # coordtransform's published vector
    >>> round(float(lon), 9), round(float(lat), 9)
    (116.410369494, 39.921336994)
    """
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Invert BD-09 to GCJ-02 (iterative, exact to below 1 mm)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return _invert(gcj02_to_bd09, lon, lat)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The forward chain WGS84 → GCJ-02 → BD-09, for tests and for clients that want Baidu output."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Invert BD-09 to WGS84 through GCJ-02.

    >>> lon, lat = bd09_to_wgs84(*wgs84_to_bd09(121.4737, 31.2304))
    >>> round(float(lon), 6), round(float(lat), 6)
    (121.4737, 31.2304)
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    gx, gy = bd09_to_gcj02(lon, lat)
    wx, wy = gcj02_to_wgs84(gx, gy)
    # Outside China GCJ-02 is the identity; Baidu still applies its own offset, undone above.
    return wx, wy


@lru_cache(maxsize=64)
def _transformer(name: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(name, "EPSG:4326", always_xy=True)


def to_wgs84(
    x: ArrayLike, y: ArrayLike, crs: CRSName | str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Convert coordinates in ``crs`` to WGS84 longitude/latitude, vectorised.

    >>> lon, lat = to_wgs84([500000.0], [4419000.0], "EPSG:4547")   # CGCS2000 GK zone CM 114E
    >>> round(float(lon[0]), 3), round(float(lat[0]), 3)
    (114.0, 39.905)
    """
    name = crs.name if isinstance(crs, CRSName) else parse_crs(crs).name
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if name in (WGS84, CGCS2000):
        return x, y
    if name == GCJ02:
        return gcj02_to_wgs84(x, y)
    if name == BD09:
        return bd09_to_wgs84(x, y)
    return _transformer(name).transform(x, y)


def metric_crs(lon: float, lat: float) -> pyproj.CRS:
    """A metric CRS for measuring near a point: the CGCS2000 3-degree Gauss-Kruger zone inside China
    (EPSG:4534-4554, what Chinese surveys use), the UTM zone elsewhere.

    >>> metric_crs(116.4, 39.9).to_epsg()
    4548
    >>> metric_crs(24.94, 60.17).to_epsg()
    32635
    """
    if 73.5 <= lon <= 136.5 and 0 <= lat <= 54:
        zone_cm = int(round(lon / 3.0)) * 3  # 75E ... 135E
        return pyproj.CRS.from_epsg(4534 + (zone_cm - 75) // 3)
    zone = int((lon + 180) // 6) + 1
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


#: Degrees a file's coordinates may stray past its CRS's published area of use (a city digitised in one
#: Gauss-Kruger zone often spills a little into the next; a wrong CRS misses by far more).
AREA_MARGIN_DEG = 1.0


@lru_cache(maxsize=64)
def _area_of_use(name: str) -> tuple[tuple[float, float, float, float] | None, bool]:
    """(west, south, east, north) of a CRS's area of use in degrees (None when pyproj has none), and whether
    its coordinates are projected (metres, feet) rather than degrees.
    """
    if name in (WGS84, GCJ02, BD09):
        return None, False  # the world; GCJ-02/BD-09 leave points outside China unshifted
    crs = pyproj.CRS.from_user_input("EPSG:4490" if name == CGCS2000 else name)
    area = crs.area_of_use
    return (area.bounds if area is not None else None), bool(crs.is_projected)


def implausible_coordinates(name: str, raw: NDArray[np.float64], wgs84: NDArray[np.float64]
                            ) -> tuple[int, str] | None:
    """The first row whose coordinates cannot be in the CRS ``name``, with the reason; None when all can.

    ``raw`` holds each row's bounds (minx, miny, maxx, maxy) as the file has them, ``wgs84`` the same rows
    converted to longitude/latitude (rows of NaN, empty geometries, are skipped). Two mistakes are caught:
    degree coordinates under a projected CRS (every coordinate within ±180/±90 "metres": EPSG:3857 would put
    them in the Gulf of Guinea, which is inside 3857's world-wide area of use), and coordinates that land
    outside the CRS's area of use by more than :data:`AREA_MARGIN_DEG`.

    >>> deg = np.array([[116.40, 39.90, 116.41, 39.91]])
    >>> implausible_coordinates("EPSG:3857", deg, deg / 1e5)[1][:46]
    'every coordinate is within ±180/±90, i.e. long'
    >>> gk = np.array([[440000.0, 4416000.0, 441000.0, 4417000.0]])
    >>> implausible_coordinates("EPSG:4548", gk, np.array([[116.30, 39.89, 116.31, 39.90]])) is None
    True
    >>> implausible_coordinates("EPSG:4548", gk, np.array([[24.9, 60.1, 25.0, 60.2]]))[1][:40]
    'row 1 lies at 24.900,60.100 (lon,lat), o'
    """
    area, projected = _area_of_use(name)
    ok = np.isfinite(raw).all(axis=1)
    if not ok.any():
        return None
    if projected:
        r = raw[ok]
        if (np.abs(r[:, [0, 2]]) <= 180).all() and (np.abs(r[:, [1, 3]]) <= 90).all():
            return int(np.flatnonzero(ok)[0]), (
                f"every coordinate is within ±180/±90, i.e. longitude/latitude in degrees, but {name} is a projected "
                "CRS in metres: the file's CRS declaration is wrong (for degrees give wgs84, cgcs2000, gcj02 or bd09)")
    if area is None:
        return None
    w, s, e, n = area
    m = AREA_MARGIN_DEG
    with np.errstate(invalid="ignore"):
        bad = ok & ~(np.isfinite(wgs84).all(axis=1) & (wgs84[:, 0] >= w - m) & (wgs84[:, 2] <= e + m)
                     & (wgs84[:, 1] >= s - m) & (wgs84[:, 3] <= n + m))
    if not bad.any():
        return None
    i = int(np.flatnonzero(bad)[0])
    return i, (f"row {i + 1} lies at {wgs84[i, 0]:.3f},{wgs84[i, 1]:.3f} (lon,lat), outside the area where {name} "
               f"is used ({w:g},{s:g} to {e:g},{n:g})")


# ----------------------------------------------------------------------------------------------
# Measuring in metres (moved from geo/coverage.py, issue 22)


def metric_zones(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.int64]:
    """EPSG code of :func:`metric_crs` for many points at once.

    >>> metric_zones([116.4, 24.94, 121.47], [39.9, 60.17, 31.23]).tolist()
    [4548, 32635, 4549]
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    china = (lon >= 73.5) & (lon <= 136.5) & (lat >= 0) & (lat <= 54)
    gk = 4534 + (np.round(lon / 3.0).astype(np.int64) * 3 - 75) // 3
    utm = np.where(lat >= 0, 32600, 32700) + ((lon + 180) // 6).astype(np.int64) + 1
    return np.where(china, gk, utm)


@lru_cache(maxsize=128)
def metric_transformer(epsg: int) -> pyproj.Transformer:
    """WGS84 lon/lat to the metric CRS ``EPSG:epsg`` (x = east), one transformer per zone, cached."""
    return pyproj.Transformer.from_crs("EPSG:4326", pyproj.CRS.from_epsg(epsg), always_xy=True)


def to_metric(geoms: ArrayLike, zones: ArrayLike | None = None) -> NDArray[np.object_]:
    """Project WGS84 geometries to metres, each into ``zones`` (default: the zone of its own centroid)."""
    arr = np.asarray(geoms, dtype=object)
    out = np.empty(len(arr), dtype=object)
    if len(arr) == 0:
        return out
    if zones is None:
        c = shapely.centroid(arr)
        zones = metric_zones(shapely.get_x(c), shapely.get_y(c))
    zones = np.asarray(zones)
    for z in np.unique(zones):
        sel = zones == z
        tr = metric_transformer(int(z))
        out[sel] = shapely.transform(arr[sel], lambda xy, tr=tr: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    return out


def area_m2(geoms: ArrayLike) -> NDArray[np.float64]:
    """Area in m² of WGS84 geometries, each measured in the Gauss-Kruger zone of its centroid.

    >>> from shapely import box
    >>> a = area_m2([box(116.4, 39.9, 116.401, 39.901), None])
    >>> round(float(a[0])), float(a[1])
    (9496, 0.0)
    >>> round(float(a[0])) == round(float(metric_area_check()))
    True
    """
    arr = np.asarray(geoms, dtype=object)
    out = np.zeros(len(arr))
    ok = ~(shapely.is_missing(arr) | shapely.is_empty(arr)) if len(arr) else np.zeros(0, bool)
    if ok.any():
        out[ok] = shapely.area(to_metric(arr[ok]))
    return out


def metric_area_check() -> float:
    """The doctest's reference: the same box measured with geo.crs.metric_crs directly."""
    tr = pyproj.Transformer.from_crs("EPSG:4326", metric_crs(116.4005, 39.9005), always_xy=True)
    return shapely.transform(shapely.box(116.4, 39.9, 116.401, 39.901), lambda xy: np.column_stack(
        tr.transform(xy[:, 0], xy[:, 1]))).area


def m2_per_deg2(lat: ArrayLike) -> NDArray[np.float64]:
    """Approximate m² in one square degree at a latitude (only to pre-filter; findings use :func:`area_m2`)."""
    phi = np.radians(np.asarray(lat, dtype=float))
    return (111412.84 * np.cos(phi)) * (111132.92 - 559.82 * np.cos(2 * phi))

"""OGC API Features Part 2 (CRS by reference): which CRSs /ogc serves, their URIs, and their axis order.

gridmap stores EPSG:4326; every other CRS is ``ST_Transform``-ed by PostGIS on the way out (and the ``bbox`` on the
way in). The axis order comes from pyproj (the EPSG registry), not from a table here: EPSG:4326 and EPSG:4490
(CGCS2000) are latitude first, so are the CGCS2000 Gauss-Krüger zones (northing first), while CRS84 and EPSG:3857
are x/east first. A CRS whose first axis is north or latitude is answered with ``ST_FlipCoordinates``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from pyproj import CRS, Transformer

from api.core.errors import InvalidParameter

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{code}"
#: CGCS2000 (EPSG:4490) and its 3-degree Gauss-Krüger zones with the zone number in the easting (4513-4533) are
#: not served; the 3-degree zones by central meridian (4534-4554, e.g. 4548 = CM 117°E for Beijing) are.
EPSG_CODES = (4326, 4490, 3857, *range(4534, 4555))


@dataclass(frozen=True, slots=True)
class Crs:
    uri: str
    srid: int
    #: the CRS's first axis is latitude / northing: coordinates go out (and a ``bbox`` comes in) as (y, x)
    flip: bool
    #: decimal places worth writing: ~1 cm in degrees or in metres
    decimals: int


@cache
def _epsg(code: int) -> Crs:
    axes = CRS.from_epsg(code).axis_info
    flip = bool(axes) and axes[0].direction.lower() in ("north", "south")
    return Crs(EPSG_URI.format(code=code), code, flip, 7 if CRS.from_epsg(code).is_geographic else 2)


DEFAULT = Crs(CRS84, 4326, False, 7)


#: CRSs a filter's geometries may be given in (``filter-crs``): the geographic ones, which PostGIS transforms
#: without a failure whatever the coordinates.
GEOGRAPHIC_CODES = (4326, 4490)


def supported() -> list[str]:
    """Every CRS URI /ogc answers in, CRS84 first (the default, as the standard asks)."""
    return [CRS84, *(EPSG_URI.format(code=c) for c in EPSG_CODES)]


def parse(raw: str | None, *, field: str) -> Crs:
    """A ``crs`` or ``bbox-crs`` value (a URI, a safe CURIE ``[EPSG:4490]`` or ``EPSG:4490``) or a 400 that lists
    what is served."""
    if raw is None or raw == "" or raw in (CRS84, "CRS84", "[OGC:CRS84]", "OGC:CRS84"):
        return DEFAULT
    value = raw.strip("[]")
    code: str | None = None
    prefix = "http://www.opengis.net/def/crs/EPSG/0/"
    if raw.startswith(prefix):
        code = raw[len(prefix):]
    elif value.upper().startswith("EPSG:"):
        code = value[5:]
    if code is not None and code.isdigit() and int(code) in EPSG_CODES:
        return _epsg(int(code))
    raise InvalidParameter(
        f"{field} {raw!r} is not served; use one of: {', '.join(supported())}", field=field)


def parse_geographic(raw: str | None, *, field: str) -> Crs:
    """As :func:`parse`, for the CRSs of ``GEOGRAPHIC_CODES`` (and CRS84) only."""
    found = parse(raw, field=field)
    if found != DEFAULT and found.srid not in GEOGRAPHIC_CODES:
        raise InvalidParameter(f"{field} takes CRS84, EPSG:4326 or EPSG:4490", field=field)
    return found


def content_crs_header(crs: Crs) -> str:
    return f"<{crs.uri}>"


def geometry_sql(column: str, crs: Crs) -> str:
    """The SQL expression that turns the stored (EPSG:4326, lon/lat) ``column`` into ``crs`` with its axis order."""
    expr = column if crs.srid == 4326 else f"ST_Transform({column}, {crs.srid:d})"
    return f"ST_FlipCoordinates({expr})" if crs.flip else expr


def bbox_degrees(box: list[float], crs: Crs) -> list[float]:
    """A ``bbox`` given in ``crs`` (its own axis order) as (west, south, east, north) degrees, densified edges
    included, or a 400 when it lies outside what the CRS can express (a Gauss-Krüger zone far from its meridian)."""
    x0, y0, x1, y1 = (box[1], box[0], box[3], box[2]) if crs.flip else box
    if crs.srid == 4326:
        out = [x0, y0, x1, y1]
    else:
        out = list(_to_wgs84(crs.srid).transform_bounds(x0, y0, x1, y1, densify_pts=21))
    inside = -180 <= out[0] <= out[2] <= 180 and -90 <= out[1] <= out[3] <= 90
    if not all(math.isfinite(v) for v in out) or not inside:
        raise InvalidParameter(f"bbox is outside what {crs.uri} covers (or in the wrong axis order)", field="bbox")
    return out


@cache
def _to_wgs84(srid: int) -> Transformer:
    return Transformer.from_crs(srid, 4326, always_xy=True)

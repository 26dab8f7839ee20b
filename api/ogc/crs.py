"""OGC API Features Part 2 (CRS by reference): which CRSs /ogc serves, their URIs, and their axis order.

gridmap stores EPSG:4326; every other CRS is ``ST_Transform``-ed by PostGIS on the way out (and the ``bbox`` on the
way in). The axis order comes from pyproj (the EPSG registry), not from a table here: EPSG:4326 and EPSG:4490
(CGCS2000) are latitude first, so are the CGCS2000 Gauss-Krüger zones (northing first), while CRS84 and EPSG:3857
are x/east first. A CRS whose first axis is north or latitude is answered with ``ST_FlipCoordinates``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from pyproj import CRS

from api.core.errors import InvalidParameter

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{code}"
#: CGCS2000 (EPSG:4490) and its 3-degree Gauss-Krüger zones with the zone number in the easting (4513-4533) are
#: not served; the 3-degree zones by central meridian (4534-4554, e.g. 4544 = CM 117°E for Beijing) are.
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


def content_crs_header(crs: Crs) -> str:
    return f"<{crs.uri}>"


def geometry_sql(column: str, crs: Crs) -> str:
    """The SQL expression that turns the stored (EPSG:4326, lon/lat) ``column`` into ``crs`` with its axis order."""
    expr = column if crs.srid == 4326 else f"ST_Transform({column}, {crs.srid:d})"
    return f"ST_FlipCoordinates({expr})" if crs.flip else expr


def bbox_sql(crs: Crs) -> str:
    """An envelope in EPSG:4326 from the ``:b0 … :b3`` parameters (the ``bbox`` numbers as sent, in ``crs``'s axis
    order: lat/lon first for EPSG:4326 and 4490, northing first for the Gauss-Krüger zones).

    The envelope is densified before it is transformed, so a projected box keeps its curved edges in degrees."""
    x0, y0, x1, y1 = (":b1", ":b0", ":b3", ":b2") if crs.flip else (":b0", ":b1", ":b2", ":b3")
    env = f"ST_MakeEnvelope({x0}, {y0}, {x1}, {y1}, {crs.srid:d})"
    if crs.srid == 4326:
        return env
    return f"ST_Transform(ST_Segmentize({env}, ST_Perimeter({env}) / 64), 4326)"

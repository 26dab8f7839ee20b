"""The planner's geometry helpers that need the database: a GeoJSON body read as a polygon (refusals as the
API's errors), the boundaries near a drawn edge to snap onto, a grid checked against its community, the next free
grid code of a community. Used by the edit operations (api/planner/service.py) and the proposals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import shapely
from shapely.geometry import shape
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.config import Settings
from api.core.errors import (
    BadCode,
    DuplicateCode,
    EditRefused,
    GridmapError,
    InvalidGeometry,
    MergeFailed,
    OutsideCommunity,
    SplitFailed,
)
from api.core.params import has_bool
from geo.edit import EditError, area_outside, check_polygon

if TYPE_CHECKING:
    from api.planner.service import GridRow

_EDIT_ERRORS: dict[str, type[GridmapError]] = {
    "invalid_geometry": InvalidGeometry, "split_failed": SplitFailed, "merge_failed": MergeFailed,
    "edit_failed": EditRefused, "outside_community": OutsideCommunity,
}


def refusal(err: EditError) -> GridmapError:
    """geo/edit.py's refusal as the API's error of its kind (a 422 with its code)."""
    return _EDIT_ERRORS.get(err.code, EditRefused)(err.message, **err.extra)


def read_geometry(obj: dict[str, Any], *, what: str) -> Any:
    if isinstance(obj, dict) and has_bool(obj.get("coordinates")):  # shapely would read true as 1.0
        raise InvalidGeometry(f"the {what} has a boolean among its coordinates", reason="not_geojson")
    try:
        return shape(obj)
    except Exception as exc:  # shapely raises several types for malformed GeoJSON
        raise InvalidGeometry(f"the {what} is not GeoJSON geometry ({exc})", reason="not_geojson") from None


def read_polygon(obj: dict[str, Any], *, what: str = "geometry") -> Any:
    try:
        return check_polygon(read_geometry(obj, what=what), what=what)
    except EditError as err:
        raise refusal(err) from None


def _lines(session: Session, sql: str, params: dict[str, Any]) -> list[Any]:
    return [shapely.from_wkb(bytes(w)) for (w,) in session.execute(text(sql), params).all()]


def snap_reference(session: Session, *, layout_id: int, geom: Any, exclude: list[str], tol_deg: float,
                   buildings: bool = True) -> Any:
    """Boundaries near ``geom`` to snap onto: other grids of the layout, communities, and buildings (not for a
    new grid: it is clipped to the free space, and a drawn edge bent onto a building corner inside that space
    would leave a sliver gap)."""
    x0, y0, x1, y1 = geom.bounds
    p = {"l": layout_id, "ex": list(exclude), "x0": x0 - tol_deg, "y0": y0 - tol_deg, "x1": x1 + tol_deg,
         "y1": y1 + tol_deg}
    env = "ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"
    parts = _lines(session, f"""SELECT ST_AsBinary(ST_Boundary(boundary)) FROM grid
                                WHERE layout_id = :l AND NOT code = ANY(:ex) AND boundary && {env}""", p)
    if buildings:
        parts += _lines(session, f"SELECT ST_AsBinary(ST_Boundary(footprint)) FROM building WHERE footprint && {env}",
                        p)
    parts += _lines(session, f"SELECT ST_AsBinary(ST_Boundary(boundary)) FROM community WHERE boundary && {env}", p)
    lines = [ln for g in parts for ln in shapely.get_parts(g) if not ln.is_empty]
    return shapely.MultiLineString(lines) if lines else None


def community_row(session: Session, code: str | None) -> Any:
    if code is None:
        return None
    row = session.execute(text("SELECT code, name, name_en, ST_AsBinary(boundary) AS wkb FROM community "
                               "WHERE code = :c"), {"c": code}).first()
    return None if row is None else (row.code, row.name, row.name_en, shapely.from_wkb(bytes(row.wkb)))


def check_inside_community(session: Session, rows: list[GridRow], settings: Settings) -> None:
    for r in rows:
        comm = community_row(session, r.community_code)
        if comm is None:
            continue
        outside = area_outside(r.geom, comm[3])
        if outside > settings.planner_outside_tolerance_m2:
            raise OutsideCommunity(
                f"{outside:.1f} m² of grid {r.code} would lie outside its community {r.community_code} "
                f"(at most {settings.planner_outside_tolerance_m2:g} m² is tolerated)",
                area_m2=round(outside, 2), community_code=r.community_code, grid_code=r.code)


def next_code(session: Session, *, layout_id: int, community: str, taken: set[str] | None = None) -> str:
    """The next free code of a community in the layout: its highest sequence number plus one."""
    top = session.execute(text("""
        SELECT max(CAST(substr(code, 13, 3) AS int)) FROM grid WHERE layout_id = :l AND left(code, 12) = :c"""),
        {"l": layout_id, "c": community}).scalar() or 0
    seq = top + 1
    while taken and f"{community}{seq:03d}" in taken:
        seq += 1
    if seq > 999:
        raise BadCode(f"community {community} has no free grid code left", community_code=community)
    return f"{community}{seq:03d}"


def check_code_free(session: Session, layout_id: int, code: str) -> None:
    if session.execute(text("SELECT 1 FROM grid WHERE layout_id = :l AND code = :c"),
                       {"l": layout_id, "c": code}).scalar():
        raise DuplicateCode(f"grid code {code} is already used in this layout", grid_code=code)

"""Import and export of the spatial layers (streets, communities, grids, buildings, facilities, roads).

One file lands whole or not at all: rows are checked in Python first (so an error names the row
and the reason), then copied into a temporary table with COPY and moved into place with one
INSERT … SELECT inside the caller's transaction. The CLI and the sample loader share this path.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from psycopg.types.json import Jsonb
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.errors import ImportFailed, InvalidParameter
from api.core.pgload import Progress, copy_rows
from api.grids.service import ensure_layout
from api.imports.files import (  # noqa: F401 - check_shapefile is imported from here by the address import
    Declared,
    FileLimits,
    check_dbf_encoding,
    check_shapefile,
    declared_crs,
    default_limits,
    opened,
)
from api.roads.lines import road_kinds, road_lines, road_records
from geo.crs import BD09, GCJ02, UnknownCRS, implausible_coordinates, parse_crs, to_wgs84
from geo.validate import DEFAULT_AREA_TOLERANCE, check_polygons, first_over_vertex_limit

LAYERS = ("streets", "communities", "grids", "buildings", "facilities", "roads")
READABLE = (".geojson", ".json", ".gpkg", ".zip", ".shp")
CODE_PATTERNS = {"streets": r"^[0-9]{9}$", "communities": r"^[0-9]{12}$", "grids": r"^[0-9]{15}$"}


@dataclass
class ImportResult:
    layer: str
    path: str
    rows_read: int = 0
    rows_imported: int = 0
    rows_updated: int = 0
    crs_assumed: str = "wgs84"
    crs_source: str = "default"  # option | file | default
    crs_read_from: str = "no CRS in the file: WGS84 assumed"  # the same, in words: "the .prj file (plan.prj)"
    repaired: list[tuple[int, str]] = field(default_factory=list)
    layout_id: int | None = None
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Reading


def read_vector(path: Path, *, layer: str | None = None, limits: FileLimits | None = None) -> gpd.GeoDataFrame:
    """Read GeoJSON, GeoPackage or a (zipped) Shapefile with pyogrio, or say clearly why not."""
    return read_declared(path, layer=layer, limits=limits)[0]


def read_declared(path: Path, *, layer: str | None = None, limits: FileLimits | None = None
                  ) -> tuple[gpd.GeoDataFrame, Declared]:
    """:func:`read_vector` and the CRS the file declares (with where it was read). A zip is opened within
    ``limits`` (api/imports/files.py), a file of more features than ``limits.max_features`` is refused having
    read one feature past the limit, never the whole file."""
    path = Path(path)
    limits = limits or default_limits()
    if not path.exists():
        raise ImportFailed(f"{path} does not exist", reason="file_not_found")
    if path.suffix.lower() not in READABLE:
        raise ImportFailed(
            f"{path.name}: unsupported file type; use GeoJSON, GeoPackage or a zipped Shapefile",
            reason="unsupported_format",
        )
    cap = limits.max_features
    with opened(path, limits) as real:
        if real.suffix.lower() == ".shp":
            check_dbf_encoding(real, display=path.name)
        # a .prj or GeoJSON crs member is read first: GDAL fails on a malformed one with a riddle ("missing , or ]")
        declared = None if real.suffix.lower() == ".gpkg" else declared_crs(real, display=path.name, gdal_crs=None)
        try:
            gdf = pyogrio.read_dataframe(real, layer=layer, encoding=None,
                                         max_features=cap + 1 if cap is not None else None)
        except Exception as exc:  # pyogrio raises DataSourceError, DataLayerError, ... and GDAL messages
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            msg = msg.replace(str(real.parent) + "/", "")  # no temporary paths in what the user reads
            raise ImportFailed(f"{path.name} cannot be read: {msg}", reason="unreadable") from None
        if cap is not None and len(gdf) > cap:
            raise ImportFailed(f"{path.name} has more than {cap:,} features (GRIDMAP_UPLOAD_MAX_FEATURES); split it, "
                               "or import it on the server with `gridmap import`", reason="too_many_features",
                               limit=cap, setting="GRIDMAP_UPLOAD_MAX_FEATURES")
        if declared is None:
            declared = declared_crs(real, display=path.name, gdal_crs=gdf.crs.to_string() if gdf.crs else None)
    return gdf, declared


def _transform_chinese(geoms: np.ndarray, name: str) -> np.ndarray:
    def fn(coords: np.ndarray) -> np.ndarray:
        lon, lat = to_wgs84(coords[:, 0], coords[:, 1], name)
        return np.column_stack([lon, lat])

    return shapely.transform(geoms, fn)


def normalise_crs(gdf: gpd.GeoDataFrame, crs: str | None, declared: Declared | None = None
                  ) -> tuple[np.ndarray, str, str, str]:
    """Bring geometries to WGS84. Returns (geometries, CRS assumed, where that came from: ``option``, ``file`` or
    ``default``, and the same in words: "the crs parameter", "the .prj file (plan.prj)"...).

    ``crs`` given on the command line wins over what the file declares, because GCJ-02 and BD-09
    data is routinely saved with a WGS84 label by the tools that digitise it. Coordinates that cannot be in the
    CRS used (degrees under a projected CRS, points outside its area of use) are refused, naming the CRS and
    where it was read (issue 17: degrees under a .prj of EPSG:3857 used to land in the Gulf of Guinea).
    """
    try:
        wanted = parse_crs(crs) if crs else None
    except UnknownCRS as exc:
        raise InvalidParameter(str(exc), field="crs") from None
    if declared is None:  # a GeoDataFrame from elsewhere: what GDAL read is all there is
        declared = Declared(gdf.crs, "the file") if gdf.crs is not None else Declared(None, "no CRS in the file")
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    if wanted is not None:
        source, where = "option", "the crs parameter"
    elif declared.crs is not None:
        wanted, source, where = parse_crs(declared.crs.to_string()), "file", declared.where
    else:
        wanted, source, where = parse_crs(None), "default", f"{declared.where}: WGS84 assumed"
    if wanted.is_geographic_wgs84:
        out = geoms
    elif wanted.name in (GCJ02, BD09):
        out = _transform_chinese(geoms, wanted.name)
    else:
        out = np.asarray(gpd.GeoSeries(geoms, crs=wanted.name).to_crs(4326).values, dtype=object)
    with np.errstate(invalid="ignore"):
        wrong = implausible_coordinates(wanted.name, shapely.bounds(geoms), shapely.bounds(out))
    if wrong is not None:
        i, why = wrong
        raise ImportFailed(f"the CRS {wanted.name} (read from {where}) does not fit the coordinates: {why}",
                           row=i + 1, reason="coordinates_outside_crs", crs=wanted.name, crs_read_from=where)
    return out, wanted.name, source, where


def _check_lonlat(geoms: np.ndarray, rows: np.ndarray) -> None:
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not present.any():
        return
    # NaN/Infinity coordinates (GeoJSON readers accept the tokens): bounds skip them, GEOS then fails on them
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    nonfinite = ~np.isfinite(coords).all(axis=1)
    if nonfinite.any():
        i = int(owner[np.flatnonzero(nonfinite)[0]])
        raise ImportFailed(f"row {rows[i]}: coordinates must be finite numbers (found NaN or Infinity)",
                           row=int(rows[i]), reason="coordinates_out_of_range")
    bounds = shapely.bounds(geoms[present])
    bad = ~np.isfinite(bounds).all(axis=1) | (bounds[:, 0] < -180) | (bounds[:, 2] > 180) | (
        bounds[:, 1] < -90) | (bounds[:, 3] > 90)
    if bad.any():
        i = int(np.flatnonzero(present)[np.flatnonzero(bad)[0]])
        raise ImportFailed(
            f"row {rows[i]}: coordinates are not longitude/latitude (bounds {np.round(bounds[bad][0], 3).tolist()});"
            " the file is probably in a projected CRS: pass --crs EPSG:<code>",
            row=int(rows[i]), reason="coordinates_out_of_range",
        )


# --------------------------------------------------------------------------------------------
# Column mapping and row checks


def _column(df: pd.DataFrame, name: str | None, *fallbacks: str) -> pd.Series | None:
    """The field the caller named, which must exist (issue 17 #11: a missing ``code_field`` silently fell back
    to a ``code`` field), or else the first default field the file has, or None."""
    for candidate in (name,) if name else fallbacks:
        if candidate in df.columns:
            return df[candidate]
    if name:
        raise InvalidParameter(
            f"the file has no field {name!r}; its fields are: {', '.join(map(str, df.columns))}", field=name
        )
    return None


def _text(series: pd.Series | None, n: int) -> list[str | None]:
    if series is None:
        return [None] * n
    out: list[str | None] = []
    for v in series.tolist():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        elif isinstance(v, float) and v.is_integer():
            out.append(str(int(v)))
        else:
            s = str(v).strip()
            out.append(s or None)
    return out


def _ints(series: pd.Series | None, n: int, *, label: str, rows: np.ndarray) -> list[int | None]:
    if series is None:
        return [None] * n
    out: list[int | None] = []
    for i, v in enumerate(series.tolist()):
        if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
            out.append(None)
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ImportFailed(f"row {rows[i]}: {label} must be a number, got {v!r}", row=int(rows[i]),
                               reason="not_a_number") from None
        if not math.isfinite(f) or f < 0 or not f.is_integer():
            raise ImportFailed(f"row {rows[i]}: {label} must be a whole number ≥ 0, got {v!r}",
                               row=int(rows[i]), reason="out_of_range")
        out.append(int(f))
    return out


def _require(values: list[str | None], *, label: str, rows: np.ndarray, pattern: str | None = None) -> None:
    seen: dict[str, int] = {}
    for i, v in enumerate(values):
        if v is None:
            raise ImportFailed(f"row {rows[i]}: {label} is missing", row=int(rows[i]), reason="missing_value")
        if pattern and not re.match(pattern, v):
            raise ImportFailed(
                f"row {rows[i]}: {label} {v!r} does not have the expected form ({pattern})",
                row=int(rows[i]), reason="bad_code",
            )
        if v in seen:
            raise ImportFailed(
                f"row {rows[i]}: {label} {v!r} repeats row {seen[v]}", row=int(rows[i]), reason="duplicate_code"
            )
        seen[v] = int(rows[i])


def sequence_codes(geoms: np.ndarray, prefix: str, *, row_height_deg: float | None = None) -> list[str]:
    """Number polygons west→east in rows from north to south, as grid codes ``prefix + NNN``.

    Rows are bands of latitude whose height is the median polygon height, so that a row holds the
    polygons a person would read as "one row" on the map.
    """
    pts = shapely.point_on_surface(geoms)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    b = shapely.bounds(geoms)
    h = row_height_deg or float(np.median(b[:, 3] - b[:, 1])) or 1e-3
    band = np.floor((y.max() - y) / h)
    order = np.lexsort((x, band))
    codes = [""] * len(geoms)
    for seq, i in enumerate(order, start=1):
        codes[i] = f"{prefix}{seq:03d}"
    return codes


def _extra_properties(df: pd.DataFrame, used: set[str]) -> list[dict[str, Any]]:
    extra = [c for c in df.columns if c not in used and c != df.geometry.name]
    if not extra:
        return [{} for _ in range(len(df))]
    records = json.loads(df[extra].to_json(orient="records", date_format="iso", force_ascii=False))
    return [{k: v for k, v in r.items() if v is not None} for r in records]


# --------------------------------------------------------------------------------------------
# Writing


def _ewkb(geoms: np.ndarray) -> list[str]:
    return list(shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True))


TABLES: dict[str, dict[str, Any]] = {
    "streets": {"table": "street", "key": ["code"], "geom": "boundary",
                "cols": ["code", "name", "name_en", "boundary"]},
    "communities": {"table": "community", "key": ["code"], "geom": "boundary",
                    "cols": ["code", "name", "name_en", "street_code", "boundary"]},
    "grids": {"table": "grid", "key": ["layout_id", "code"], "geom": "boundary",
              "cols": ["layout_id", "code", "name", "name_en", "community_code", "households", "population",
                       "properties", "boundary"]},
    "buildings": {"table": "building", "key": ["code"], "geom": "footprint",
                  "cols": ["code", "address", "kind", "floors", "units", "households", "population",
                           "properties", "footprint"]},
    "facilities": {"table": "facility", "key": ["code"], "geom": "location",
                   "cols": ["code", "kind", "name", "name_en", "address", "properties", "location"]},
    "roads": {"table": "road", "key": ["code"], "geom": "geom",
              "cols": ["code", "name", "name_en", "kind", "properties", "geom"]},
}


def _insert(session: Session, layer: str, rows: list[tuple], *, replace: bool, progress: Progress | None,
            row_numbers: np.ndarray) -> tuple[int, int]:
    spec = TABLES[layer]
    table, cols, key = spec["table"], spec["cols"], spec["key"]
    tmp = f"_import_{table}"
    # Same column types as the target but none of its constraints: rows are checked on the way
    # into the real table, where a refusal can be reported against its row number.
    session.execute(text(f"DROP TABLE IF EXISTS {tmp}"))
    session.execute(text(f"""CREATE TEMP TABLE {tmp} ON COMMIT DROP AS
                             SELECT {', '.join(cols)}, 0 AS _row FROM {table} WITH NO DATA"""))
    try:
        with session.begin_nested():
            copy_rows(session, tmp, [*cols, "_row"],
                       [(*r, int(n)) for r, n in zip(rows, row_numbers, strict=True)], progress)
    except Exception as exc:  # a value PostgreSQL cannot parse: say which row
        raise _refusal(exc, row_numbers) from None
    existing = session.execute(text(f"""
        SELECT t._row, t.code FROM {tmp} t JOIN {table} x USING ({', '.join(key)}) ORDER BY t._row""")).all()
    if existing and not replace:
        row, code = existing[0]
        raise ImportFailed(
            f"row {row}: {code!r} already exists ({len(existing)} rows of this file do); "
            "import with --replace to update them", row=row, reason="already_exists",
        )
    col_list = ", ".join(cols)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in key)
    try:
        with session.begin_nested():
            session.execute(text(f"""
                INSERT INTO {table} ({col_list}) SELECT {col_list} FROM {tmp} ORDER BY _row
                ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"""))
    except Exception as exc:  # a constraint the checks above could not foresee (e.g. a foreign key)
        raise _refusal(exc, row_numbers) from None
    return len(rows) - len(existing), len(existing)


def _refusal(exc: Exception, row_numbers: np.ndarray) -> ImportFailed:
    """Turn a database error into an ImportFailed naming the row where PostgreSQL can tell it."""
    orig = getattr(exc, "orig", exc)
    diag = getattr(orig, "diag", None)
    detail = (getattr(diag, "message_primary", None) or str(orig)).strip()
    extra = getattr(diag, "message_detail", None)
    match = re.search(r"line (\d+)", getattr(diag, "context", None) or "")
    row = int(row_numbers[int(match.group(1)) - 1]) if match else None
    where = f"row {row}: " if row else ""
    return ImportFailed(f"{where}the database refused the file: {detail}" + (f" ({extra})" if extra else ""),
                        row=row, reason="constraint_violation")


# --------------------------------------------------------------------------------------------
# The import


def import_layer(
    session: Session,
    *,
    layer: str,
    path: Path,
    source_layer: str | None = None,
    code_field: str | None = None,
    name_field: str | None = None,
    crs: str | None = None,
    layout: str | None = None,
    code_prefix: str | None = None,
    kind: str | None = None,
    replace: bool = False,
    explode: bool = False,
    area_tolerance: float = DEFAULT_AREA_TOLERANCE,
    progress: Progress | None = None,
    limits: FileLimits | None = None,
) -> ImportResult:
    """Import one file into one layer, inside the caller's transaction (commit is the caller's), within
    ``limits`` (default: the settings' archive and vertex caps; uploads add their byte and feature caps)."""
    if layer not in LAYERS:
        raise InvalidParameter(f"layer must be one of {', '.join(LAYERS)}", field="layer")
    path = Path(path)
    limits = limits or default_limits()
    gdf, declared = read_declared(path, layer=source_layer, limits=limits)
    result = ImportResult(layer=layer, path=str(path), rows_read=len(gdf))
    if len(gdf) == 0:
        raise ImportFailed(f"{path.name} has no features", reason="empty_file")
    if limits.max_vertices is not None:
        over = first_over_vertex_limit(gdf.geometry.values, limits.max_vertices)
        if over is not None:
            i, count = over
            raise ImportFailed(f"row {i + 1}: the geometry has {count:,} vertices; at most {limits.max_vertices:,} "
                               "are accepted (GRIDMAP_IMPORT_MAX_VERTICES): simplify it", row=i + 1,
                               reason="too_many_vertices", limit=limits.max_vertices, vertices=count,
                               setting="GRIDMAP_IMPORT_MAX_VERTICES")
    geoms, result.crs_assumed, result.crs_source, result.crs_read_from = normalise_crs(gdf, crs, declared)
    rows = np.arange(1, len(gdf) + 1)
    df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    df["geometry"] = geoms

    if layer == "buildings" and explode:
        parts, src = shapely.get_parts(geoms, return_index=True)
        counts = np.bincount(src, minlength=len(geoms))
        df = df.iloc[src].reset_index(drop=True)
        df["geometry"] = parts
        df["_part"] = [f"-{k}" if counts[s] > 1 else "" for s, k in zip(src, _part_numbers(src), strict=True)]
        rows = rows[src]
        geoms = np.asarray(parts, dtype=object)

    _check_lonlat(geoms, rows)
    n = len(df)

    if layer == "facilities":
        types = shapely.get_type_id(geoms)
        bad = np.flatnonzero((types != 0) | shapely.is_empty(geoms))
        if bad.size:
            i = int(bad[0])
            got = "nothing" if geoms[i] is None else geoms[i].geom_type
            raise ImportFailed(f"row {rows[i]}: a facility must be a point, got {got}", row=int(rows[i]),
                               reason="wrong_geometry_type")
        fixed = geoms
    elif layer == "roads":  # issue 20: one line a road (api/roads/lines.py)
        fixed = road_lines(geoms, rows)
    else:
        checked = check_polygons(geoms, single=layer == "buildings", area_tolerance=area_tolerance)
        refusal = checked.first_refusal()
        if refusal is not None:
            i, why = refusal
            raise ImportFailed(f"row {rows[i]}: {why}", row=int(rows[i]), reason="invalid_geometry")
        fixed = checked.geometry
        result.repaired = [(int(rows[i]), str(checked.reason[i])) for i in np.flatnonzero(checked.repaired)]

    used = {c for c in (code_field, name_field) if c}
    codes = _text(_column(df, code_field, "code"), n)
    used |= {"code"}
    if layer == "buildings" and explode:
        codes = [None if c is None else c + p for c, p in zip(codes, df["_part"], strict=True)]
        used.add("_part")

    if layer == "grids":
        if all(c is None for c in codes) and code_prefix:
            if not re.match(r"^[0-9]{12}$", code_prefix):
                raise InvalidParameter("--code-prefix must be a 12-digit community code", field="code_prefix")
            codes = sequence_codes(fixed, code_prefix)
            result.notes.append(f"codes generated from {code_prefix}, numbered west→east, north→south")
        result.layout_id = ensure_layout(session, layout=layout, default_name=f"{path.stem} (imported)")
    elif layer in ("buildings", "facilities", "roads") and all(c is None for c in codes) and code_prefix:
        codes = [f"{code_prefix}{i:07d}" for i in range(1, n + 1)]
    _require(codes, label="code", rows=rows, pattern=CODE_PATTERNS.get(layer))

    names = _text(_column(df, name_field, "name"), n)
    names_en = _text(_column(df, None, "name_en"), n)
    used |= {"name", "name_en"}
    ewkb = _ewkb(fixed)

    if layer == "streets":
        _require_present(names, label="name", rows=rows)
        records = list(zip(codes, names, names_en, ewkb, strict=True))
    elif layer == "communities":
        _require_present(names, label="name", rows=rows)
        street = _text(_column(df, None, "street_code"), n)
        street = [s or (c[:9] if c else None) for s, c in zip(street, codes, strict=True)]
        records = list(zip(codes, names, names_en, street, ewkb, strict=True))
    elif layer == "grids":
        known = set(session.execute(text("SELECT code FROM community")).scalars())
        community = _text(_column(df, None, "community_code", "community_"), n)
        community = [cc or (c[:12] if c[:12] in known else None) for cc, c in zip(community, codes, strict=True)]
        names = [nm or c for nm, c in zip(names, codes, strict=True)]
        households = _ints(_column(df, None, "households"), n, label="households", rows=rows)
        population = _ints(_column(df, None, "population"), n, label="population", rows=rows)
        used |= {"community_code", "households", "population"}
        props = [Jsonb(p) for p in _extra_properties(df, used)]
        records = [
            (result.layout_id, c, nm, ne, cc, h or 0, p or 0, pr, g)
            for c, nm, ne, cc, h, p, pr, g in zip(codes, names, names_en, community, households, population,
                                                   props, ewkb, strict=True)
        ]
    elif layer == "buildings":
        address = _text(_column(df, None, "address"), n)
        kinds = _text(_column(df, None, "kind"), n)
        floors = _ints(_column(df, None, "floors"), n, label="floors", rows=rows)
        units = _ints(_column(df, None, "units"), n, label="units", rows=rows)
        households = _ints(_column(df, None, "households"), n, label="households", rows=rows)
        population = _ints(_column(df, None, "population"), n, label="population", rows=rows)
        used |= {"address", "kind", "floors", "units", "households", "population"}
        props = [Jsonb(p) for p in _extra_properties(df, used)]
        records = [
            (c, a, k, f, u, h or 0, p or 0, pr, g)
            for c, a, k, f, u, h, p, pr, g in zip(codes, address, kinds, floors, units, households, population,
                                                   props, ewkb, strict=True)
        ]
    elif layer == "roads":  # one row a road name (api/roads/lines.py)
        used |= {"kind", "highway"}
        records, rows = road_records(codes, names, names_en, road_kinds(_text(_column(df, None, "kind", "highway"),
                                                                              n), kind, rows),
                                     _extra_properties(df, used), fixed, rows, result.notes)
    else:  # facilities
        kinds = _text(_column(df, None, "kind"), n)
        kinds = [k or kind for k in kinds]
        _require_kinds(kinds, rows)
        _require_present(names, label="name", rows=rows)
        address = _text(_column(df, None, "address"), n)
        used |= {"kind", "address"}
        props = [Jsonb(p) for p in _extra_properties(df, used)]
        records = list(zip(codes, kinds, names, names_en, address, props, ewkb, strict=True))

    result.rows_imported, result.rows_updated = _insert(
        session, layer, records, replace=replace, progress=progress, row_numbers=rows
    )
    return result


def _part_numbers(src: np.ndarray) -> list[int]:
    out, last, k = [], -1, 0
    for s in src:
        k = k + 1 if s == last else 1
        last = s
        out.append(k)
    return out


def _require_present(values: list[str | None], *, label: str, rows: np.ndarray) -> None:
    for i, v in enumerate(values):
        if v is None:
            raise ImportFailed(f"row {rows[i]}: {label} is missing", row=int(rows[i]), reason="missing_value")


def _require_kinds(kinds: list[str | None], rows: np.ndarray) -> None:
    for i, k in enumerate(kinds):
        if not k or not re.match(r"^[a-z_]+$", k):
            raise ImportFailed(
                f"row {rows[i]}: facility kind {k!r} must be lower_case words (e.g. clinic); "
                "give a 'kind' field or --kind", row=int(rows[i]), reason="bad_kind",
            )


# --------------------------------------------------------------------------------------------
# Export

EXPORT_SQL = {
    "streets": "SELECT code, name, name_en, boundary AS geometry FROM street ORDER BY code",
    "communities": "SELECT code, name, name_en, street_code, boundary AS geometry FROM community ORDER BY code",
    "grids": """SELECT code, name, name_en, community_code, households, population, boundary AS geometry
                FROM grid WHERE layout_id = %(layout)s ORDER BY code""",
    "buildings": """SELECT code, address, kind, floors, units, households, population, footprint AS geometry
                    FROM building ORDER BY id""",
    "facilities": "SELECT code, kind, name, name_en, address, location AS geometry FROM facility ORDER BY code",
    "roads": """SELECT code, name, name_en, kind, properties->>'streets' AS streets, geom AS geometry
                FROM road ORDER BY code""",
}


def export_layer(session: Session, *, layer: str, path: Path, layout_id: int | None = None) -> int:
    """Write a layer to GeoJSON, GeoPackage or a zipped Shapefile (chosen by the file name)."""
    if layer not in LAYERS:
        raise InvalidParameter(f"layer must be one of {', '.join(LAYERS)}", field="layer")
    path = Path(path)
    conn = session.connection()
    gdf = gpd.read_postgis(text(EXPORT_SQL[layer].replace("%(layout)s", ":layout")), conn, geom_col="geometry",
                           params={"layout": layout_id})
    gdf = gdf.set_crs(4326, allow_override=True)
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".zip" else path.suffix.lower()
    if suffix in (".geojson", ".json"):
        pyogrio.write_dataframe(gdf, path, driver="GeoJSON", layer=layer)
    elif suffix == ".gpkg":
        pyogrio.write_dataframe(gdf, path, driver="GPKG", layer=layer)
    elif suffix.endswith(".zip"):
        with tempfile.TemporaryDirectory() as tmp:
            shp = Path(tmp) / f"{layer}.shp"
            pyogrio.write_dataframe(gdf, shp, driver="ESRI Shapefile", encoding="UTF-8")
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
                for f in sorted(Path(tmp).iterdir()):
                    zf.write(f, f.name)
    elif suffix == ".shp":
        pyogrio.write_dataframe(gdf, path, driver="ESRI Shapefile", encoding="UTF-8")
    else:
        raise InvalidParameter("export to .geojson, .gpkg or .zip (zipped Shapefile)", field="path")
    return len(gdf)



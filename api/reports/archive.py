"""Reading and checking a report archive for the bulk import (:mod:`api.reports.bulk`).

A CSV with lon/lat columns or any vector file of points is read into a DataFrame (:func:`read_reports`),
every column is checked vectorised, the first bad row named with how many are like it (:func:`check_rows`),
and the rows already imported are set aside (:func:`new_rows`), so that a re-import is harmless.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyogrio
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.cases.workflow import STATUSES
from api.core.errors import GridmapError, ImportFailed, InvalidParameter
from api.imports.service import READABLE
from geo.crs import CRSName, UnknownCRS, parse_crs, to_wgs84


def read_reports(path: Path, *, layer: str | None = None) -> pd.DataFrame:
    """CSV with lon/lat (or x/y) columns, or any vector file of points (GeoJSON, GeoPackage, Shapefile)."""
    path = Path(path)
    if not path.exists():
        raise ImportFailed(f"{path} does not exist", reason="file_not_found")
    name = path.name.lower()
    try:
        if name.endswith((".csv", ".csv.gz")):
            df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
            cols = {c.lower(): c for c in df.columns}
            xc = cols.get("lon") or cols.get("longitude") or cols.get("x")
            yc = cols.get("lat") or cols.get("latitude") or cols.get("y")
            if xc is None or yc is None:
                raise ImportFailed(f"{path.name}: a CSV needs lon and lat columns (or x and y)",
                                   reason="missing_column")
            df["_x"] = pd.to_numeric(df[xc], errors="coerce")
            df["_y"] = pd.to_numeric(df[yc], errors="coerce")
            return df
        if path.suffix.lower() not in READABLE:
            raise ImportFailed(f"{path.name}: use CSV, GeoJSON, GeoPackage or a zipped Shapefile",
                               reason="unsupported_format")
        if path.suffix.lower() in (".zip", ".shp"):
            from api.imports.files import check_shapefile

            check_shapefile(path)  # issue 17: a zip within the archive limits, a .dbf's encoding declared
        gdf = pyogrio.read_dataframe(path, layer=layer)
    except GridmapError:  # ImportFailed, or a zip past the archive limits (413)
        raise
    except Exception as exc:  # pandas/pyogrio parse errors
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImportFailed(f"{path.name} cannot be read: {msg}", reason="unreadable") from None
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    types = shapely.get_type_id(geoms)
    bad = np.flatnonzero(types != 0)
    if bad.size:
        raise ImportFailed(f"row {bad[0] + 1}: a report must be a point", row=int(bad[0] + 1),
                           reason="wrong_geometry_type")
    df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    df["_x"], df["_y"] = shapely.get_x(geoms), shapely.get_y(geoms)
    if gdf.crs is not None and "crs" not in df.columns:
        df.attrs["file_crs"] = gdf.crs.to_string()
    return df


def parse_times(values: pd.Series, *, tz: str) -> pd.Series:
    """ISO 8601 times as naive UTC (the session's zone); those without an offset are read in ``tz``.
    Unparseable values become NaT, for the caller to name."""
    text_values = values.astype("string").str.strip()
    aware = _has_offset(text_values)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    if aware.any():
        parsed = pd.to_datetime(text_values[aware], errors="coerce", format="ISO8601", utc=True)
        out[aware] = parsed.dt.tz_localize(None).to_numpy()
    naive = ~aware & text_values.notna().to_numpy()
    if naive.any():
        parsed = pd.to_datetime(text_values[naive], errors="coerce", format="ISO8601")
        out[naive] = parsed.dt.tz_localize(ZoneInfo(tz), ambiguous="NaT", nonexistent="NaT").dt.tz_convert(
            "UTC").dt.tz_localize(None).to_numpy()
    return out


def _has_offset(values: pd.Series) -> np.ndarray:
    """Which times end in an offset (``Z``, ``+08:00``, ``-0530``): the regex ``(?:Z|[+-]\\d{2}:?\\d{2})$``
    evaluated on the code points of a fixed-width array, all rows at once (the regex, row by row, was half
    of reading a million times).

    >>> _has_offset(pd.Series(["2026-01-02T03:04Z", "2026-01-02 03:04+08:00", "2026-01-02T03:04-0530",
    ...                        "2026-01-02T03:04", "2026-01-02", None, "Z", "+0800x"], dtype="string")).tolist()
    [True, True, True, False, False, False, True, False]
    """
    s = values.fillna("").to_numpy(dtype=str)
    n, width = len(s), s.dtype.itemsize // 4
    if n == 0 or width == 0:
        return np.zeros(n, dtype=bool)
    points = s.view(np.uint32).reshape(n, width)
    length = np.char.str_len(s)
    rows = np.arange(n)

    def at(k: int) -> np.ndarray:  # the k-th code point from the end (0 where the string is shorter)
        i = length - k
        return np.where(i >= 0, points[rows, np.clip(i, 0, width - 1)], 0)

    def digit(c: np.ndarray) -> np.ndarray:
        return (c >= 48) & (c <= 57)

    sign = (43, 45)  # + -
    d1, d2 = digit(at(1)), digit(at(2))
    colon = np.isin(at(6), sign) & digit(at(5)) & digit(at(4)) & (at(3) == 58) & d2 & d1
    plain = np.isin(at(5), sign) & digit(at(4)) & digit(at(3)) & d2 & d1
    return (at(1) == 90) | colon | plain


def _fail(mask: np.ndarray, message: str, reason: str) -> None:
    idx = np.flatnonzero(mask)
    if idx.size:
        row = int(idx[0]) + 1
        raise ImportFailed(f"row {row}: {message} ({idx.size} rows like it)", row=row, reason=reason)


def _col(df: pd.DataFrame, *names: str) -> pd.Series | None:
    for n in names:
        if n in df.columns:
            return df[n]
    return None


@dataclass
class Rows:
    """An archive's columns, checked: numpy arrays (or Series) of one value per row of the file."""

    n: int
    wanted: CRSName
    sources: np.ndarray
    external: np.ndarray
    categories: np.ndarray
    #: Each category's time limit: ``code -> (amount, unit)``.
    limits: dict[str, tuple[float, str]]
    reported: pd.Series
    x: np.ndarray
    y: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    status: np.ndarray
    closed: pd.Series
    rating: pd.Series
    desc: pd.Series | None


def check_rows(session: Session, df: pd.DataFrame, *, crs: str | None, source: str | None, tz: str) -> Rows:
    """Every column checked vectorised; the first bad row refuses the import (:class:`ImportFailed` naming it)."""
    n = len(df)
    try:
        wanted = parse_crs(crs or df.attrs.get("file_crs"))
    except UnknownCRS as exc:
        raise InvalidParameter(str(exc), field="crs") from None
    src = _col(df, "source")
    sources = (src.fillna(source or "") if src is not None else pd.Series([source or ""] * n)).astype(str).to_numpy()
    valid = {s: bool(re.fullmatch(r"[a-z0-9_]{1,32}", s)) for s in pd.unique(sources)}  # a handful of sources
    _fail(~pd.Series(sources).map(valid).to_numpy(dtype=bool),
          "source must be lower_case letters, digits or _ (give a 'source' column or --source)", "bad_source")
    ext = _col(df, "external_id", "id")
    external = ext.astype(object).where(ext.notna(), None).to_numpy() if ext is not None else np.full(n, None)
    cat = _col(df, "category_code", "category")
    if cat is None:
        raise ImportFailed("the file has no category_code column", reason="missing_column")
    categories = cat.astype(str).to_numpy()
    limits = {r.code: (r.time_limit_hours, r.time_limit_unit)
              for r in session.execute(text("SELECT code, time_limit_hours, time_limit_unit FROM category"))}
    _fail(~pd.Series(categories).isin(list(limits)).to_numpy(), "unknown category code", "unknown_category")
    when = _col(df, "reported_at", "requested_datetime")
    if when is None:
        raise ImportFailed("the file has no reported_at column", reason="missing_column")
    reported = parse_times(when, tz=tz)
    _fail(reported.isna().to_numpy(), "reported_at is not an ISO 8601 time", "bad_time")
    x = df["_x"].to_numpy(dtype=float)
    y = df["_y"].to_numpy(dtype=float)
    _fail(~(np.isfinite(x) & np.isfinite(y)), "coordinates are missing or not numbers", "bad_coordinates")
    if wanted.name in ("wgs84", "cgcs2000", "gcj02", "bd09"):
        _fail((np.abs(x) > 180) | (np.abs(y) > 90), "coordinates are not longitude/latitude (swapped? projected?)",
              "bad_coordinates")
    lon, lat = (np.asarray(v, dtype=float) for v in to_wgs84(x, y, wanted))
    status_col = _col(df, "status")
    status = status_col.fillna("reported").astype(str).to_numpy() if status_col is not None else np.full(
        n, "reported", dtype=object)
    _fail(~pd.Series(status).isin(STATUSES).to_numpy(), f"status must be one of {', '.join(STATUSES)}", "bad_status")
    closed_col = _col(df, "closed_at")
    closed = (parse_times(closed_col, tz=tz) if closed_col is not None
              else pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]"))
    is_closed = status == "closed"
    closed = closed.where(~pd.Series(is_closed, index=df.index) | closed.notna(), reported + pd.Timedelta(days=1))
    closed = closed.where(pd.Series(is_closed, index=df.index))
    rating_col = _col(df, "rating")
    rating = (pd.to_numeric(rating_col, errors="coerce") if rating_col is not None
              else pd.Series(np.nan, index=df.index))
    rating = rating.where(pd.Series(is_closed, index=df.index))
    _fail(rating.notna().to_numpy() & ~rating.between(1, 5).to_numpy(), "rating must be 1-5", "bad_rating")
    desc = _col(df, "description")
    return Rows(n=n, wanted=wanted, sources=sources, external=external, categories=categories, limits=limits,
                reported=reported, x=x, y=y, lon=lon, lat=lat, status=status, closed=closed, rating=rating,
                desc=desc)


def new_rows(session: Session, rows: Rows) -> np.ndarray:
    """The rows to import, in time order: those whose ``(source, external_id)`` is not in the database yet (an
    external id repeated within the file refuses it). Rows go in in time order (ids follow time, as a live
    system's do): the time indexes of report and cases and their id keys then grow at their right edge instead
    of taking each row at a random page."""
    n, sources, external = rows.n, rows.sources, rows.external
    keep = np.ones(n, dtype=bool)
    has_ext = pd.notna(external)
    if has_ext.any():
        pairs = pd.DataFrame({"s": sources[has_ext], "e": external[has_ext].astype(str)})
        dup = pairs.duplicated().to_numpy()
        if dup.any():
            bad = np.flatnonzero(has_ext)[dup]
            raise ImportFailed(f"row {bad[0] + 1}: external_id repeats an earlier row of the file",
                               row=int(bad[0] + 1), reason="duplicate_external_id")
        # Only the sources that have rows with an external id can hold one of these: the first import of an
        # archive skips sending a million keys to look up (5 s of the million).
        present = set(session.execute(text("""
            SELECT s FROM unnest(CAST(:s AS text[])) AS u(s)
            WHERE EXISTS (SELECT 1 FROM report WHERE source = u.s AND external_id IS NOT NULL)"""),
            {"s": pd.unique(pairs["s"]).tolist()}).scalars())
        look = has_ext & pd.Series(sources).isin(present).to_numpy()
        if look.any():
            existing = session.execute(text("""
                SELECT source || chr(31) || external_id FROM report
                WHERE (source, external_id) IN (SELECT * FROM unnest(CAST(:s AS text[]), CAST(:e AS text[])))"""),
                {"s": sources[look].tolist(), "e": [str(e) for e in external[look]]}).scalars().all()
            if existing:
                keys = np.array([f"{s}\x1f{e}" for s, e in zip(sources, external, strict=True)], dtype=object)
                keep = ~pd.Series(keys).isin(existing).to_numpy()
    idx = np.flatnonzero(keep)
    return idx[np.argsort(rows.reported.to_numpy()[idx], kind="stable")]

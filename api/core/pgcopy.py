r"""PostgreSQL binary ``COPY`` of a pandas DataFrame, encoded vectorised with numpy.

Why: the bulk import formatted millions of rows as CSV text (``DataFrame.to_csv``, most of its Python
time) for PostgreSQL to parse again (most of each COPY). The binary format needs neither: fixed-width
values are their big-endian bytes, text is its UTF-8, times are integers. This module builds those bytes
with numpy, a loop per column and per chunk but never per row or per value (the per-value work is done
in C by ``str.join``, ``str.encode``, ``shapely.to_wkb`` and numpy).

Format (PostgreSQL docs, COPY, "Binary Format"): an 11-byte signature ``PGCOPY\n\377\r\n\0``, an int32
flags field and an int32 header-extension length (both 0), then per tuple an int16 field count and per
field an int32 byte length (-1 for NULL) followed by that many bytes, all integers in network byte order;
an int16 -1 ends the stream. psycopg 3 passes bytes given to ``Copy.write`` through untouched and adds
neither the signature nor the trailer when it is not given rows, so the chunks here are the whole stream.

Inputs and NULLs, per PostgreSQL type (``types`` maps every column to one of them):

* ``bigint``, ``integer``, ``smallint``: numpy ints, pandas nullable ints (``<NA>`` = NULL), floats holding
  whole numbers (NaN = NULL), objects of ints/None. A value out of the type's range is refused.
* ``double precision``: numpy or nullable floats or ints. **NaN is NULL** (as in the CSV the import wrote:
  pandas writes NaN as an empty field), so a NaN cannot be stored; ints beyond 2**53 are refused (they
  would not round-trip).
* ``boolean``: numpy bools, pandas ``boolean`` (``<NA>`` = NULL), objects of bools/None.
* ``text`` (also for ``varchar``), ``json``: objects of str, None/NaN/pd.NA = NULL; an empty string stays an
  empty string (the CSV path turns it into NULL). A NUL character is refused (PostgreSQL text cannot hold
  it), as is a string that is not valid Unicode (lone surrogates).
* ``jsonb``: as ``text``, the JSON text (PostgreSQL parses and checks it; the binary payload is a version
  byte 1 and the text).
* ``"char"``: one-character ASCII strings.
* ``bytea``: objects of bytes.
* ``date``: ``datetime64`` of any unit at midnight (``datetime64[D]`` becomes ``[s]`` in a DataFrame), ISO
  ``YYYY-MM-DD`` strings or ``datetime.date`` objects; NaT/None = NULL; a time of day is refused.
* ``timestamptz``: ``datetime64`` of any unit (naive = UTC), tz-aware pandas datetimes, objects of
  datetimes/Timestamps; NaT/None = NULL. Finer than microseconds is floored to the microsecond, as
  ``astype("datetime64[us]")`` does (and so the CSV the import wrote).
* ``geometry``: shapely geometries (written as EWKB with their SRID: set it with ``shapely.set_srid``;
  a GeoSeries with an EPSG crs gives its code to geometries without one), bytes objects already in
  (E)WKB, or hex (E)WKB strings as ``shapely.to_wkb(..., hex=True)`` gives (what PostGIS's binary input
  reads; PostGIS checks it). Not a numpy ``S`` array of EWKB: pandas (and ``tolist``) strip its trailing
  zero bytes, so that a point at y = 0 arrives four bytes short (PostGIS then refuses the COPY).

Refusals are ``ValueError`` naming the column, raised before the first chunk, but for the checks of
strings and bytes values one by one (text, jsonb, "char", bytea, geometry's bytes or hex), which run a
block at a time: such a refusal comes mid-stream, and the COPY and its transaction are to be abandoned
(which the exception does in ``with cursor.copy(...)``).

Speed (scripts/pgcopy_measure.py, 2 shared cores at load ~2): a million report rows of the bulk import
(12 columns: bigint, 6 text, 2 float8, 2 timestamptz, hex EWKB points) encode in 1.3 s, where
``_csv_ready`` + ``_csv`` took 12.8 s, and PostgreSQL COPYs them in 1.7 s instead of 4.4 s.

>>> import numpy as np, pandas as pd
>>> frame = pd.DataFrame({"id": np.array([1, 2]), "name": ["网格", None]})
>>> stream = b"".join(binary_copy_chunks(frame, {"id": "bigint", "name": "text"}))
>>> stream[:11] == b"PGCOPY\n\xff\r\n\x00"
True
>>> stream[19:43].hex(" ")  # row 1: 2 fields, id (length 8, value), name (length 6, UTF-8)
'00 02 00 00 00 08 00 00 00 00 00 00 00 01 00 00 00 06 e7 bd 91 e6 a0 bc'
>>> stream[43:].hex(" ")  # row 2: name NULL (length -1), then the trailer
'00 02 00 00 00 08 00 00 00 00 00 00 00 02 ff ff ff ff ff ff'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

#: Signature, flags (no OIDs) and header-extension length.
HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"

_NO_BYTES = np.empty(0, dtype=np.uint8)
_EPOCH_2000_US = 946_684_800_000_000  # 2000-01-01 in microseconds since 1970
_EPOCH_2000_DAYS = 10_957
# PostgreSQL's limits (src/include/datatype/timestamp.h): 4714-11-24 BC to before 294277-01-01 for
# timestamps, and Julian days 0 to 2147483494 for dates, both relative to 2000-01-01.
_TS_MIN, _TS_END = -211_813_488_000_000_000, 9_223_371_331_200_000_000
_DATE_MIN, _DATE_END = -2_451_545, 2_147_483_494 - 2_451_545

_INTS = {"bigint": (8, -(2**63), 2**63 - 1), "integer": (4, -(2**31), 2**31 - 1), "smallint": (2, -(2**15), 2**15 - 1)}
_ALIASES = {
    "int8": "bigint", "int4": "integer", "int": "integer", "int2": "smallint", "float8": "double precision",
    "bool": "boolean", "varchar": "text", "character varying": "text", "timestamp with time zone": "timestamptz",
}


@dataclass
class _Column:
    """A column prepared once for the whole frame: its values as an array and its NULL mask."""

    name: str
    kind: str
    values: np.ndarray
    null: np.ndarray | None  # bool, True = NULL; None: to be found block by block (_nulls)
    width: int = 0  # bytes per value of a fixed-width type (values are then their big-endian bytes)


@dataclass
class _Field:
    """One column of one chunk: per-row byte lengths (-1 = NULL) and either the non-NULL payloads,
    concatenated, or (fixed-width types) the values of every row as a big-endian array.
    """

    lengths: np.ndarray  # int64
    data: np.ndarray  # uint8
    values: np.ndarray | None = None
    extra: int = 0  # bytes after each non-NULL payload in ``data`` that are not part of it


def binary_copy_chunks(frame: pd.DataFrame, types: Mapping[str, str], *,
                       rows_per_chunk: int = 50_000) -> Iterator[bytes]:
    """The whole COPY stream for ``frame`` (header first, trailer last), in chunks of about
    ``rows_per_chunk`` rows.

    ``types`` maps every column of ``frame`` to its PostgreSQL type (see the module docstring); the
    fields are in the frame's column order, so the ``COPY t (a, b, ...) FROM STDIN (FORMAT binary)``
    must list the columns in that order. Every column is checked (``ValueError`` naming it) by this call,
    before any chunk, but for the one-by-one checks of strings and bytes (block by block, mid-stream)::

        with conn.cursor() as cur, cur.copy(f"COPY report ({', '.join(frame.columns)}) FROM STDIN "
                                            "(FORMAT binary)") as copy:
            for chunk in binary_copy_chunks(frame, types):
                copy.write(chunk)
    """
    if rows_per_chunk < 1:
        raise ValueError("rows_per_chunk must be at least 1")
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate column names: {names}")
    if missing := [n for n in names if n not in types]:
        raise ValueError(f"no PostgreSQL type for column(s) {missing}")
    if extra := [n for n in types if n not in names]:
        raise ValueError(f"type(s) given for column(s) {extra} that the frame does not have")
    columns = [_prepare(name, frame.iloc[:, i], types[name]) for i, name in enumerate(names)]
    return _stream(columns, len(frame), rows_per_chunk)


#: Rows assembled at a time: a chunk's working set (records, mask, text) then stays in the CPU's caches.
_BLOCK = 8192


def _stream(columns: list[_Column], n: int, rows_per_chunk: int) -> Iterator[bytes]:
    yield HEADER
    for start in range(0, n, rows_per_chunk):
        stop = min(n, start + rows_per_chunk)
        blocks = []
        for first in range(start, stop, _BLOCK):
            last = min(stop, first + _BLOCK)
            blocks.append(_assemble([_ENCODERS[c.kind](c, first, last) for c in columns], last - first))
        yield b"".join(blocks)  # (one copy of the blocks' arrays into the chunk's bytes)
    yield TRAILER


# --- preparing whole columns (checks raise here, before any byte is produced) -----------------------


def _prepare(name: str, series: pd.Series, pg_type: str) -> _Column:
    # As written or as PostgreSQL's format_type() gives it: "character varying(32)", "geometry(Point,4326)"
    # (the modifier is PostgreSQL's to check: the binary input applies it as the text input does).
    kind = " ".join(str(pg_type).lower().split("(", 1)[0].split())
    kind = _ALIASES.get(kind, kind)
    if kind in _INTS:
        return _prepare_int(name, series, kind)
    prepare = _PREPARERS.get(kind)
    if prepare is None:
        raise ValueError(f"column {name!r}: PostgreSQL type {pg_type!r} is not supported by the binary COPY "
                         f"encoder (supported: {', '.join(sorted([*_INTS, *_PREPARERS]))})")
    return prepare(name, series, kind)


def _refuse(name: str, what: str) -> ValueError:
    return ValueError(f"column {name!r}: {what}")


def _loose(dtype: object) -> bool:
    """Python objects or strings (pandas 3 reads text as its ``str`` dtype, not object)."""
    return pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)


def _objects(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    return series.to_numpy(dtype=object), series.isna().to_numpy(dtype=bool)


def _prepare_int(name: str, series: pd.Series, kind: str) -> _Column:
    width, lo, hi = _INTS[kind]
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise _refuse(name, f"booleans are not {kind} values")
    if pd.api.types.is_integer_dtype(dtype):
        null = np.asarray(series.isna(), dtype=bool)
        numpy_dtype = getattr(dtype, "numpy_dtype", dtype)
        values = series.to_numpy(dtype=numpy_dtype, na_value=0) if null.any() else series.to_numpy()
    elif pd.api.types.is_float_dtype(dtype):
        floats = series.to_numpy(dtype=np.float64, na_value=np.nan)
        null = np.isnan(floats)
        kept = floats[~null]
        if not np.isfinite(kept).all() or (kept != np.floor(kept)).any():
            raise _refuse(name, f"a value that is not a whole number does not fit {kind}")
        if kept.size and (kept.min() < lo or kept.max() >= float(hi) + 1):
            raise _refuse(name, f"a value out of the range of {kind} [{lo}, {hi}]")
        values = np.where(null, 0.0, floats).astype(np.int64)
    elif _loose(dtype):
        objects, null = _objects(series)
        try:
            ints = pd.array(objects[~null], dtype="Int64").to_numpy(dtype=np.int64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise _refuse(name, f"a value that is not a {kind} ({exc})") from None
        values = np.zeros(len(objects), dtype=np.int64)
        values[~null] = ints
    else:
        raise _refuse(name, f"a {dtype} column cannot be written as {kind}")
    kept = values[~null]
    if kept.size and (kept.min() < lo or kept.max() > hi):
        raise _refuse(name, f"a value out of the range of {kind} [{lo}, {hi}]: "
                            f"{kept.min() if kept.min() < lo else kept.max()}")
    values = np.where(null, 0, values).astype(f">i{width}")
    return _Column(name, "fixed", values, null, width)


def _prepare_float(name: str, series: pd.Series, kind: str) -> _Column:
    dtype = series.dtype
    if pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        ints = series.to_numpy(dtype=np.float64, na_value=np.nan)
        raw = series.dropna().to_numpy()
        if raw.size and ((raw > 2**53) | (raw < -(2**53))).any():
            raise _refuse(name, "an integer beyond 2**53 does not fit double precision exactly")
        values = ints
    elif pd.api.types.is_float_dtype(dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    elif _loose(dtype):
        objects, null = _objects(series)
        try:
            values = pd.array(objects, dtype="Float64").to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise _refuse(name, f"a value that is not a number ({exc})") from None
    else:
        raise _refuse(name, f"a {dtype} column cannot be written as {kind}")
    null = np.isnan(values)  # NaN is NULL (documented): a NaN cannot be stored
    return _Column(name, "fixed", np.where(null, 0.0, values).astype(">f8"), null, 8)


def _prepare_bool(name: str, series: pd.Series, kind: str) -> _Column:
    if series.dtype == np.bool_:
        values, null = series.to_numpy(), np.zeros(len(series), dtype=bool)
    else:
        try:
            array = pd.array(series.to_numpy(dtype=object), dtype="boolean")
        except (TypeError, ValueError) as exc:
            raise _refuse(name, f"a value that is not a boolean ({exc})") from None
        null = np.asarray(array.isna(), dtype=bool)
        values = array.to_numpy(dtype=bool, na_value=False)
    return _Column(name, "fixed", values.astype(np.uint8), null, 1)


def _microseconds(name: str, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Microseconds since 2000-01-01 of a datetime64 array of any unit, and its NaT mask."""
    null = np.isnat(values)
    unit, count = np.datetime_data(values.dtype)
    if unit == "generic":
        raise _refuse(name, "datetime64 without a unit")
    factor = np.timedelta64(count, unit) / np.timedelta64(1, "us")
    raw = values.view(np.int64)
    if factor >= 1:  # as coarse as a microsecond or coarser: exact, once the range is checked
        factor = int(factor)
        lo, hi = -((-(_TS_MIN + _EPOCH_2000_US)) // factor), (_TS_END + _EPOCH_2000_US - 1) // factor
        kept = raw[~null]
        if kept.size and (kept.min() < lo or kept.max() > hi):
            raise _refuse(name, "a time out of PostgreSQL's timestamp range")
        us = np.where(null, 0, raw) * factor
    else:  # finer: floored to the microsecond (within range: numpy's finer units span less)
        us = values.astype("datetime64[us]").view(np.int64)
    return np.where(null, 0, us - _EPOCH_2000_US), null


def _prepare_timestamptz(name: str, series: pd.Series, kind: str) -> _Column:
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        values = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    elif pd.api.types.is_datetime64_dtype(dtype):
        values = series.to_numpy()
    elif _loose(dtype):
        try:
            values = pd.to_datetime(series, utc=True).dt.tz_localize(None).to_numpy()
        except (TypeError, ValueError, OverflowError) as exc:
            raise _refuse(name, f"a value that is not a time ({exc})") from None
    else:
        raise _refuse(name, f"a {dtype} column cannot be written as timestamptz")
    us, null = _microseconds(name, values)
    return _Column(name, "fixed", us.astype(">i8"), null, 8)


def _prepare_date(name: str, series: pd.Series, kind: str) -> _Column:
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        raise _refuse(name, "a time-zone-aware time is not a date (convert it to the local date first)")
    if pd.api.types.is_datetime64_dtype(dtype):
        values = series.to_numpy()
        null = np.isnat(values)
    elif _loose(dtype):
        objects, null = _objects(series)
        try:
            parsed = objects[~null].astype("datetime64")
        except (TypeError, ValueError, OverflowError) as exc:
            raise _refuse(name, f"a value that is not a date ({exc})") from None
        values = np.full(len(objects), np.datetime64("NaT"), dtype=parsed.dtype)
        values[~null] = parsed
    else:
        raise _refuse(name, f"a {dtype} column cannot be written as date")
    days = values.astype("datetime64[D]")
    if (days[~null] != values[~null]).any():
        raise _refuse(name, "a value with a time of day is not a date")
    raw = days.view(np.int64) - _EPOCH_2000_DAYS
    kept = raw[~null]
    if kept.size and (kept.min() < _DATE_MIN or kept.max() >= _DATE_END):
        raise _refuse(name, "a date out of PostgreSQL's date range")
    return _Column(name, "fixed", np.where(null, 0, raw).astype(">i4"), null, 4)


def _prepare_objects(kind: str) -> Callable[[str, pd.Series, str], _Column]:
    def prepare(name: str, series: pd.Series, _kind: str) -> _Column:
        return _Column(name, kind, series.to_numpy(dtype=object), None)  # NULLs found block by block
    return prepare


def _prepare_geometry(name: str, series: pd.Series, kind: str) -> _Column:
    values, null = _objects(series)
    kept = values[~null]
    geometries = shapely.is_geometry(kept)
    if geometries.any():
        if not geometries.all():
            raise _refuse(name, "a geometry column mixes shapely geometries and other values")
        srid = _epsg(getattr(series, "crs", None) or getattr(series.array, "crs", None))  # (GeoSeries, or
        # its GeometryArray in a plain DataFrame)
        if srid:
            kept = np.where(shapely.get_srid(kept) == 0, shapely.set_srid(kept, srid), kept)
        values = values.copy()
        values[~null] = shapely.to_wkb(kept, include_srid=True)
    return _Column(name, "geometry", values, null)


def _epsg(crs: object) -> int | None:
    try:
        return crs.to_epsg() if crs is not None else None  # type: ignore[attr-defined]
    except AttributeError:
        return None


_PREPARERS: dict[str, Callable[[str, pd.Series, str], _Column]] = {
    "double precision": _prepare_float,
    "boolean": _prepare_bool,
    "text": _prepare_objects("text"),
    "json": _prepare_objects("text"),
    "jsonb": _prepare_objects("jsonb"),
    '"char"': _prepare_objects("char"),
    "bytea": _prepare_objects("bytea"),
    "date": _prepare_date,
    "timestamptz": _prepare_timestamptz,
    "geometry": _prepare_geometry,
}


# --- encoding one chunk of one column ------------------------------------------------------------


def _nulls(column: _Column, start: int, stop: int) -> np.ndarray:
    """The NULL mask of rows ``start:stop``. Objects' are found a block at a time, just before the block's
    strings are joined, so that the join finds the objects still in the CPU's caches.
    """
    if column.null is not None:
        return column.null[start:stop]
    return np.asarray(pd.isna(column.values[start:stop]), dtype=bool)


def _encode_fixed(column: _Column, start: int, stop: int) -> _Field:
    null = column.null[start:stop]
    return _Field(np.where(null, -1, column.width).astype(np.int64), _NO_BYTES, column.values[start:stop])


def _utf8(name: str, values: np.ndarray, null: np.ndarray, prefix: str = "") -> _Field:
    """The UTF-8 of the non-NULL strings (each after ``prefix``) and their byte lengths: the strings are
    joined, each ended by a NUL (which text cannot hold, so that a value containing one is found and
    refused), and encoded in one call each; the NULs' places give the lengths, and they stay in the data
    (one byte after each value, ``extra``), which the assembly skips, rather than cost a copy here.
    """
    lengths = np.full(len(values), -1, dtype=np.int64)
    kept = values[~null].tolist()
    if not kept:
        return _Field(lengths, _NO_BYTES)
    try:
        raw = (prefix + ("\x00" + prefix).join(kept) + "\x00").encode("utf-8")
    except TypeError:
        bad = next(v for v in kept if not isinstance(v, str))  # only on the way to a refusal
        raise _refuse(name, f"a {type(bad).__name__} value ({bad!r:.40}) is not text") from None
    except UnicodeEncodeError as exc:
        raise _refuse(name, f"a string that is not valid Unicode ({exc.reason})") from None
    data = np.frombuffer(raw, dtype=np.uint8)
    ends = np.flatnonzero(data == 0)
    if len(ends) != len(kept):
        raise _refuse(name, "a string with a NUL character, which PostgreSQL text cannot hold")
    lengths[~null] = np.diff(ends, prepend=-1) - 1
    return _Field(lengths, data, extra=1)


def _encode_text(column: _Column, start: int, stop: int) -> _Field:
    return _utf8(column.name, column.values[start:stop], _nulls(column, start, stop))


def _encode_jsonb(column: _Column, start: int, stop: int) -> _Field:
    return _utf8(column.name, column.values[start:stop], _nulls(column, start, stop), prefix="\x01")


def _encode_char(column: _Column, start: int, stop: int) -> _Field:
    field = _utf8(column.name, column.values[start:stop], _nulls(column, start, stop))
    if (field.lengths[field.lengths >= 0] != 1).any() or (field.data >= 0x80).any():
        raise _refuse(column.name, 'a "char" value is one ASCII character')
    return field


def _encode_bytes(name: str, values: np.ndarray, null: np.ndarray) -> _Field:
    lengths = np.full(len(values), -1, dtype=np.int64)
    kept = values[~null].tolist()
    try:
        joined = b"".join(kept)
    except TypeError:
        bad = next(v for v in kept if not isinstance(v, bytes | bytearray | memoryview))
        raise _refuse(name, f"a {type(bad).__name__} value ({bad!r:.40}) is not bytes") from None
    lengths[~null] = np.fromiter(map(len, kept), dtype=np.int64, count=len(kept))
    return _Field(lengths, np.frombuffer(joined, dtype=np.uint8))


def _encode_bytea(column: _Column, start: int, stop: int) -> _Field:
    return _encode_bytes(column.name, column.values[start:stop], _nulls(column, start, stop))


def _encode_geometry(column: _Column, start: int, stop: int) -> _Field:
    values, null = column.values[start:stop], _nulls(column, start, stop)
    kept = values[~null].tolist()
    if not kept or not isinstance(kept[0], str):
        return _encode_bytes(column.name, values, null)  # EWKB bytes (shapely geometries were made so)
    # Hex (E)WKB: joined with spaces, which bytes.fromhex skips (one C call decodes the chunk) and whose
    # places give the lengths; a string with a space or an odd length of its own is found by the counts.
    lengths = np.full(len(values), -1, dtype=np.int64)
    try:
        joined = " ".join(kept)
        spaces = np.flatnonzero(np.frombuffer(joined.encode("ascii"), dtype=np.uint8) == 0x20)
        digits = np.diff(np.concatenate(([-1], spaces, [len(joined)]))) - 1
        if len(spaces) != len(kept) - 1 or (digits % 2).any():
            raise ValueError("odd")
        data = np.frombuffer(bytes.fromhex(joined), dtype=np.uint8)
    except TypeError:
        bad = next(v for v in kept if not isinstance(v, str))
        raise _refuse(column.name, f"a {type(bad).__name__} value among hex strings") from None
    except ValueError:  # (UnicodeEncodeError included)
        raise _refuse(column.name, "a string that is not hex-encoded (E)WKB") from None
    lengths[~null] = digits // 2
    return _Field(lengths, data)


_ENCODERS: dict[str, Callable[[_Column, int, int], _Field]] = {
    "fixed": _encode_fixed, "text": _encode_text, "jsonb": _encode_jsonb, "char": _encode_char,
    "bytea": _encode_bytea, "geometry": _encode_geometry,
}


# --- assembling a chunk ------------------------------------------------------------------------------

#: A chunk is laid out padded (see _assemble) when that takes at most this many times its bytes (plus a MiB);
#: rows of very uneven lengths are split into smaller pieces until it does.
_PAD_SLACK = 4


def _assemble(fields: list[_Field], n: int) -> np.ndarray:
    """The tuples of one chunk, without an index per byte. Every row is laid out in one record array
    (a packed numpy structured dtype, so that each field is one strided assignment): the field count, then
    per field its length word and its payload, fixed-width values as themselves and varying ones padded
    to the chunk's longest (a boolean-mask assignment). A same-shaped byte mask says which bytes are real
    (not those of NULLs, nor the padding), and the rows compacted by it, row-major, are the stream; when
    every row has the same layout, the records are the stream as they are. Padding would blow up with a
    few very long values among short ones: such a chunk is split in halves until it fits.
    """
    sizes = [np.maximum(f.lengths, 0) for f in fields]
    same = [bool((f.lengths == f.lengths[0]).all()) if n else True for f in fields]  # every row one length
    widths = [f.values.dtype.itemsize if f.values is not None else int(s.max()) + (0 if one else f.extra)
              if n else 0 for f, s, one in zip(fields, sizes, same, strict=True)]
    real = 2 * n + 4 * n * len(fields) + sum(int(s.sum()) for s in sizes)
    if n > 1 and n * (2 + 4 * len(fields) + sum(widths)) > _PAD_SLACK * real + (1 << 20):
        half = n // 2
        return np.concatenate([_assemble([_rows(f, s, 0, half) for f, s in zip(fields, sizes, strict=True)], half),
                               _assemble([_rows(f, s, half, n) for f, s in zip(fields, sizes, strict=True)], n - half)])
    names, formats, offsets, at = ["n"], [">i2"], [0], 2
    for j, (field, width) in enumerate(zip(fields, widths, strict=True)):
        names.append(f"w{j}"), formats.append(">i4"), offsets.append(at)
        at += 4
        if width:
            names.append(f"p{j}"), formats.append(field.values.dtype if field.values is not None else ("u1", width))
            offsets.append(at)
            at += width
    rows = np.empty(n, dtype=np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": at}))
    rows["n"] = len(fields)
    keep: np.ndarray | None = None
    for j, (field, size, width, one) in enumerate(zip(fields, sizes, widths, same, strict=True)):
        first = field.lengths[0]
        rows[f"w{j}"] = first if one else field.lengths
        if not width:
            continue
        if field.values is not None:
            rows[f"p{j}"] = field.values
        elif one:
            rows[f"p{j}"] = field.data.reshape(n, width + field.extra)[:, :width]
        else:
            stored = size + field.extra * (field.lengths >= 0)
            rows[f"p{j}"][np.arange(width) < stored[:, None]] = field.data  # (a view: sets the records)
        if one and first == width:
            continue
        if keep is None:
            keep = np.ones((n, at), dtype=bool)
        start = offsets[names.index(f"p{j}")]
        keep[:, start:start + width] = (np.arange(width) < size[:, None]) if field.values is None else \
            (size > 0)[:, None]
    if keep is None:
        return rows.view(np.uint8)
    return rows.view(np.uint8).reshape(n, at)[keep]


def _rows(field: _Field, size: np.ndarray, start: int, stop: int) -> _Field:
    """Rows ``start:stop`` of one field of a chunk."""
    if field.values is not None:
        return _Field(field.lengths[start:stop], field.data, field.values[start:stop])
    stored = size + field.extra * (field.lengths >= 0)
    first, last = int(stored[:start].sum()), int(stored[:stop].sum())
    return _Field(field.lengths[start:stop], field.data[first:last], extra=field.extra)

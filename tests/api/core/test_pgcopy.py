"""The binary COPY encoder (api/core/pgcopy.py) against the real PostGIS: what PostgreSQL reads back from the
binary stream is what the frame holds, and what the CSV COPY of the same frame gives (but for
the empty strings, which that CSV turns into NULL); refusals name the column and never write a wrong value."""

from __future__ import annotations

import doctest
import math
from datetime import UTC, date, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core import pgcopy
from api.core.pgcopy import HEADER, TRAILER, binary_copy_chunks

COLUMNS = {
    "k": "integer", "id": "bigint", "i4": "integer", "i2": "smallint", "f8": "double precision", "b": "boolean",
    "t": "text", "v": "varchar", "c": '"char"', "d": "date", "ts": "timestamptz", "j": "jsonb", "g": "geometry",
}
DDL = {"varchar": "varchar(40)", "geometry": "geometry(Point, 4326)"}
READ = ("k, id, i4, i2, f8, b, t, v, c, d, ts, j::text, ST_AsEWKT(g), ST_SRID(g)")

TEXTS = ["网格化基层治理 🏘️", "", None, 'a,"b"\n\\c\t;\r', "plain"]
POINTS = [(116.3975, 39.9087), (-73.985, 40.758), None, (0.0, -90.0), (180.0, 0.0)]


def _geoms() -> np.ndarray:
    return np.array([None if p is None else shapely.set_srid(shapely.Point(*p), 4326) for p in POINTS])


def _frame() -> pd.DataFrame:
    """Five rows: the types' maxima, their minima (and pre-2000 times), all NULL, odd text and inf, plain."""
    geoms = _geoms()
    return pd.DataFrame({
        "k": np.arange(5),
        "id": pd.array([2**63 - 1, -(2**63), None, 0, 42], dtype="Int64"),
        "i4": pd.array([2**31 - 1, -(2**31), None, -1, 7], dtype="Int64"),
        "i2": pd.array([32767, -32768, None, 0, 3], dtype="Int16"),
        "f8": np.array([1.5e308, -5e-324, np.nan, math.inf, 0.1]),
        "b": pd.array([True, False, None, True, False], dtype="boolean"),
        "t": np.array(TEXTS, dtype=object),
        "v": np.array(["abc", "", None, "名字", "x" * 40], dtype=object),
        "c": np.array(["c", "z", None, "s", "o"], dtype=object),
        "d": np.array(["2000-01-01", "1899-12-31", None, "9999-12-31", "2026-11-23"], dtype=object),
        "ts": np.array(["2024-05-01T12:34:56.789012", "1969-12-31T23:59:59.999999", "NaT", "1900-01-01T00:00:00",
                        "2000-01-01T00:00:00"], dtype="datetime64[ns]"),
        "j": np.array(['{"a": "中", "n": [1, 2.5]}', "[]", None, "null", '"str"'], dtype=object),
        "g": np.array(shapely.to_wkb(geoms, hex=True, include_srid=True), dtype=object),
    })


def _table(db: Session, name: str) -> str:
    cols = ", ".join(f"{c} {DDL.get(t, t)}" for c, t in COLUMNS.items())
    db.execute(text(f"CREATE TEMP TABLE {name} ({cols}) ON COMMIT DROP"))
    return f"pg_temp.{name}"


def _copy_binary(db: Session, table: str, frame: pd.DataFrame, types: dict[str, str], **kw: int) -> int:
    conn = db.connection().connection.driver_connection
    chunks = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN (FORMAT binary)") as cp:
        for chunk in binary_copy_chunks(frame, types, **kw):
            cp.write(chunk)
            chunks += 1
    return chunks


def _copy_csv(db: Session, table: str, frame: pd.DataFrame) -> None:
    """The CSV COPY the bulk import wrote before the binary one: times as UTC ISO text, NULL as an empty field."""
    out = frame.copy(deep=False)
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col].dtype):
            values = out[col].dt.tz_localize(None) if getattr(out[col].dt, "tz", None) else out[col]
            values = values.to_numpy().astype("datetime64[us]")
            text_values = np.datetime_as_string(values, unit="us", timezone="UTC").astype(object)
            text_values[np.isnat(values)] = None
            out[col] = text_values
    conn = db.connection().connection.driver_connection
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN (FORMAT csv)") as cp:
        cp.write(out.to_csv(index=False, header=False, na_rep=""))


def _read(db: Session, table: str) -> list[tuple]:
    return [tuple(r) for r in db.execute(text(f"SELECT {READ} FROM {table} ORDER BY k")).all()]


def test_round_trip_of_every_type_matches_the_frame_and_the_csv_copy(db: Session) -> None:
    frame = _frame()
    _copy_binary(db, _table(db, "pgcopy_bin"), frame, COLUMNS)
    _copy_csv(db, _table(db, "pgcopy_csv"), frame)
    got, csv = _read(db, "pg_temp.pgcopy_bin"), _read(db, "pg_temp.pgcopy_csv")

    assert got[0][:6] == (0, 2**63 - 1, 2**31 - 1, 32767, 1.5e308, True)
    assert got[1][:6] == (1, -(2**63), -(2**31), -32768, -5e-324, False)
    assert got[2][1:-1] == (None,) * 12  # every column NULL (k aside), NaN and NaT included
    assert got[3][4] == math.inf
    assert [r[6] for r in got] == TEXTS  # Chinese, emoji, the empty string, CSV's specials, backslashes
    assert [r[7] for r in got] == ["abc", "", None, "名字", "x" * 40]
    assert [r[8] for r in got] == ["c", "z", None, "s", "o"]
    assert [r[9] for r in got] == [date(2000, 1, 1), date(1899, 12, 31), None, date(9999, 12, 31), date(2026, 11, 23)]
    assert [r[10] for r in got] == [datetime(2024, 5, 1, 12, 34, 56, 789012, tzinfo=UTC),
                                    datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), None,
                                    datetime(1900, 1, 1, tzinfo=UTC), datetime(2000, 1, 1, tzinfo=UTC)]
    assert [r[11] for r in got] == ['{"a": "中", "n": [1, 2.5]}', "[]", None, "null", '"str"']
    ewkt = [None if p is None else "SRID=4326;POINT({:.15g} {:.15g})".format(*p) for p in POINTS]
    assert [r[12] for r in got] == ewkt
    assert {r[13] for r in got} == {4326, None}

    # The CSV the bulk import writes reads back the same, but for its empty strings, which become NULL.
    def blank_is_null(row: tuple) -> tuple:
        return tuple(None if v == "" else v for v in row)
    assert [blank_is_null(r) for r in got] == csv
    assert got != csv  # (so the comparison above did compare something the CSV loses)


def test_types_as_the_catalog_names_them(db: Session) -> None:
    """format_type() of the table's columns ("character varying(40)", "geometry(Point,4326)", "timestamp with
    time zone", ...) serves as ``types`` as it is."""
    _table(db, "pgcopy_cat")
    catalog = dict(db.execute(text("""SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
                                      WHERE attrelid = 'pg_temp.pgcopy_cat'::regclass AND attnum > 0""")).all())
    assert catalog["v"] == "character varying(40)" and catalog["g"] == "geometry(Point,4326)"
    frame = _frame()
    assert b"".join(binary_copy_chunks(frame, catalog)) == b"".join(binary_copy_chunks(frame, COLUMNS))


def test_input_forms_give_the_same_stream() -> None:
    """What the bulk import hands over in one form or another (numpy or nullable ints, naive ns or tz-aware
    times, datetime64 or string dates, shapely/EWKB bytes/hex geometries) is encoded to identical bytes."""
    base = _frame()

    def stream(**columns: object) -> bytes:
        return b"".join(binary_copy_chunks(base.assign(**columns), COLUMNS))

    reference = stream()
    geoms = _geoms()
    forms = {
        "i2 whole floats, NaN = NULL": {"i2": np.array([32767, -32768, np.nan, 0, 3.0])},
        "i2 objects": {"i2": np.array([32767, -32768, None, 0, 3], dtype=object)},
        "ts us": {"ts": base["ts"].to_numpy().astype("datetime64[us]")},
        "ts tz-aware": {"ts": base["ts"].dt.tz_localize("UTC").dt.tz_convert("Asia/Shanghai")},
        "d datetime64": {"d": np.array(["2000-01-01", "1899-12-31", "NaT", "9999-12-31", "2026-11-23"],
                                            dtype="datetime64[D]")},
        "d date objects": {"d": np.array([date(2000, 1, 1), date(1899, 12, 31), None, date(9999, 12, 31),
                                          date(2026, 11, 23)], dtype=object)},
        "g shapely": {"g": geoms},
        "g bytes": {"g": shapely.to_wkb(geoms, include_srid=True)},
        "g GeoSeries, SRID from its crs": {"g": gpd.GeoSeries(shapely.set_srid(geoms, 0), crs="EPSG:4326")},
        "text pandas str": {"t": pd.Series(TEXTS, dtype="str")},
    }
    for label, columns in forms.items():
        assert stream(**columns) == reference, label
    assert stream(i4=pd.array([1, 2, None, 3, 4], dtype="Int64")) != reference  # (the comparison can fail)


def test_chunks_concatenate_to_the_single_chunk_stream_and_copy_every_row(db: Session) -> None:
    rng = np.random.default_rng(7)
    n = 1234
    frame = pd.DataFrame({
        "k": np.arange(n), "id": rng.integers(-(2**62), 2**62, n),
        "t": np.where(rng.random(n) < 0.2, None, np.array(["短", "", "longer text", "网格🏘"], dtype=object)[
            rng.integers(0, 4, n)]),
        "ts": np.where(rng.random(n) < 0.1, np.datetime64("NaT"),
                       np.datetime64("2020-01-01") + rng.integers(0, 10**15, n).astype("timedelta64[us]")),
        "g": shapely.set_srid(shapely.points(rng.uniform(-180, 180, n), rng.uniform(-90, 90, n)), 4326),
    })
    types = {c: COLUMNS[c] for c in frame.columns}
    chunks = list(binary_copy_chunks(frame, types, rows_per_chunk=100))
    assert len(chunks) == 2 + 13 and chunks[0] == HEADER and chunks[-1] == TRAILER
    assert b"".join(chunks) == b"".join(binary_copy_chunks(frame, types, rows_per_chunk=n))
    table = _table(db, "pgcopy_chunks")
    assert _copy_binary(db, table, frame, types, rows_per_chunk=100) == 15
    got = db.execute(text(f"SELECT k, id, t, ts, ST_X(g), ST_Y(g) FROM {table} ORDER BY k")).all()
    assert [r[0] for r in got] == list(range(n))
    assert [r[1] for r in got] == frame["id"].tolist()
    assert [r[2] for r in got] == [None if pd.isna(v) else v for v in frame["t"]]
    want_ts = [None if pd.isna(t) else t.to_pydatetime().replace(tzinfo=UTC) for t in frame["ts"]]
    assert [r[3] for r in got] == want_ts
    assert np.allclose([r[4] for r in got], shapely.get_x(frame["g"].to_numpy()), rtol=0, atol=0)


def test_an_empty_frame_is_a_valid_empty_copy(db: Session) -> None:
    frame = _frame().iloc[:0]
    assert b"".join(binary_copy_chunks(frame, COLUMNS)) == HEADER + TRAILER
    table = _table(db, "pgcopy_empty")
    _copy_binary(db, table, frame, COLUMNS)
    assert db.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0


def test_columns_of_nothing_but_nulls(db: Session) -> None:
    frame = pd.DataFrame({c: [None] * 3 for c in COLUMNS}).assign(k=np.arange(3))
    table = _table(db, "pgcopy_nulls")
    _copy_binary(db, table, frame, COLUMNS)
    assert _read(db, table) == [(k,) + (None,) * 13 for k in range(3)]


def test_bytea_round_trips_bytes_with_zeros(db: Session) -> None:
    values = [b"", b"\x00\x01\x00", None, bytes(range(256))]
    db.execute(text("CREATE TEMP TABLE pgcopy_bytes (k int, x bytea) ON COMMIT DROP"))
    frame = pd.DataFrame({"k": np.arange(4), "x": np.array(values, dtype=object)})
    _copy_binary(db, "pg_temp.pgcopy_bytes", frame, {"k": "integer", "x": "bytea"})
    got = [r[0] for r in db.execute(text("SELECT x FROM pgcopy_bytes ORDER BY k")).all()]
    assert [None if v is None else bytes(v) for v in got] == values


@pytest.mark.parametrize(("column", "values", "pg_type", "message"), [
    ("when", [1, 2], "interval", "not supported"),
    ("n", [1, 2**31], "integer", "out of the range of integer"),
    ("n", pd.array([-(2**15) - 1, None], dtype="Int64"), "smallint", "out of the range of smallint"),
    ("n", np.array([1.0, 40000.0]), "smallint", "out of the range of smallint"),
    ("n", np.array([1.5, np.nan]), "bigint", "not a whole number"),
    ("n", np.array([2**64 - 1], dtype=np.uint64), "bigint", "out of the range of bigint"),
    ("n", np.array(["x", None], dtype=object), "bigint", "not a bigint"),
    ("n", np.array([True, False]), "integer", "booleans"),
    ("x", np.array([2**53 + 1, 0]), "double precision", "2\\*\\*53"),
    ("s", np.array(["a\x00b", "c"], dtype=object), "text", "NUL"),
    ("s", np.array(["a", 5], dtype=object), "text", "int value"),
    ("s", np.array(["\ud800"], dtype=object), "text", "Unicode"),
    ("c", np.array(["ab"], dtype=object), '"char"', "one ASCII character"),
    ("c", np.array(["中"], dtype=object), '"char"', "one ASCII character"),
    ("d", np.array(["2024-01-01T10:00"], dtype=object), "date", "time of day"),
    ("d", np.array(["not a date"], dtype=object), "date", "not a date"),
    ("t", np.array([300_000 * 366 * 86400], dtype="datetime64[s]"), "timestamptz", "out of PostgreSQL"),
    ("g", np.array(["0101zz"], dtype=object), "geometry", "hex"),
    ("g", np.array([shapely.Point(0, 0), b"\x01"], dtype=object), "geometry", "mixes"),
])
def test_refusals_name_the_column(column: str, values: object, pg_type: str, message: str) -> None:
    frame = pd.DataFrame({column: values})
    with pytest.raises(ValueError, match=message) as refused:
        b"".join(binary_copy_chunks(frame, {column: pg_type}))
    assert repr(column) in str(refused.value)


def test_refusals_of_the_column_mapping() -> None:
    frame = pd.DataFrame({"a": [1], "b": ["x"]})
    with pytest.raises(ValueError, match="'b'"):
        binary_copy_chunks(frame, {"a": "bigint"})
    with pytest.raises(ValueError, match="'c'"):
        binary_copy_chunks(frame, {"a": "bigint", "b": "text", "c": "text"})
    with pytest.raises(ValueError, match="rows_per_chunk"):
        binary_copy_chunks(frame, {"a": "bigint", "b": "text"}, rows_per_chunk=0)


def test_postgresql_checks_what_it_parses(db: Session) -> None:
    """jsonb is sent as text for PostgreSQL to parse: invalid JSON fails the COPY instead of being stored."""
    db.execute(text("CREATE TEMP TABLE pgcopy_json (j jsonb) ON COMMIT DROP"))
    frame = pd.DataFrame({"j": np.array(["{not json"], dtype=object)})
    with pytest.raises(Exception, match="(?i)json"), db.begin_nested():
        _copy_binary(db, "pg_temp.pgcopy_json", frame, {"j": "jsonb"})
    assert db.execute(text("SELECT count(*) FROM pgcopy_json")).scalar_one() == 0


def test_a_few_long_values_among_short_ones(db: Session) -> None:
    """Rows are laid out padded to the chunk's longest value; a chunk with one 3 MB text among thousands
    of short ones is split until the padding is small (and still writes every row as it was)."""
    n = 4000
    values = np.array(["短"] * n, dtype=object)
    values[1234], values[7], values[3999] = "长" * 1_000_000, None, ""
    frame = pd.DataFrame({"k": np.arange(n), "t": values})
    db.execute(text("CREATE TEMP TABLE pgcopy_long (k int, t text) ON COMMIT DROP"))
    _copy_binary(db, "pg_temp.pgcopy_long", frame, {"k": "integer", "t": "text"})
    got = db.execute(text("SELECT t FROM pgcopy_long ORDER BY k")).scalars().all()
    assert got == [None if v is None else v for v in values]
    assert db.execute(text("SELECT sum(octet_length(t)) FROM pgcopy_long")).scalar_one() == 3 * (n - 3) + 3_000_000


def test_module_doctest() -> None:
    """(api/ is not among the doctest paths of the suite.)"""
    result = doctest.testmod(pgcopy)
    assert result.attempted >= 4 and result.failed == 0

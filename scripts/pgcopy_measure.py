"""Encoding and COPY time of a report-shaped frame (the bulk import's, issue 4): binary (api/core/pgcopy.py)
vs the import's CSV (_csv_ready + _csv), and each COPY into a TEMP table without indexes in a scratch
database (created and dropped here). Not a benchmark of bench/run.py: a probe for the figures quoted when
pgcopy landed. Run under the bench lock, from the repository root:

    GRIDMAP_PG_PORT=... flock /tmp/gridmap-bench.lock .venv/bin/python scripts/pgcopy_measure.py [rows]
"""
import sys
import time

import numpy as np
import pandas as pd
import psycopg
import shapely

sys.path.insert(0, ".")
from api.core.config import LOCAL_DATABASE_URL
from api.core.pgcopy import binary_copy_chunks
from api.reports.bulk import COPY_CHUNK, _csv, _csv_ready


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(116.2, 116.6, n), rng.uniform(39.8, 40.1, n)
    at = np.datetime64("2025-01-01") + rng.integers(0, 365 * 86400 * 10**6, n).astype("timedelta64[us]")
    at = at.astype("datetime64[ns]")
    cats = np.array(["0101", "0102", "0203", "0304", "0405", "0501", "0602"], dtype=object)
    sources = np.array(["hotline_12345", "app", "wechat", "patrol"], dtype=object)
    frame = pd.DataFrame({
        "id": np.arange(10_000_000, 10_000_000 + n, dtype=np.int64),
        "source": sources[rng.integers(0, 4, n)],
        "external_id": np.array([f"A-{i}" for i in range(n)], dtype=object),
        "category_code": cats[rng.integers(0, len(cats), n)],
        "description": None,
        "raw_x": lon, "raw_y": lat, "raw_crs": "EPSG:4326", "crs_assumed": "EPSG:4326",
        "reported_at": at, "received_at": at,
        "location": shapely.to_wkb(shapely.set_srid(shapely.points(lon, lat), 4326), hex=True, include_srid=True),
    })
    types = {"id": "bigint", "source": "text", "external_id": "text", "category_code": "text", "description": "text",
             "raw_x": "double precision", "raw_y": "double precision", "raw_crs": "text", "crs_assumed": "text",
             "reported_at": "timestamptz", "received_at": "timestamptz", "location": "geometry"}


    def best(f, k=3):
        times, out = [], None
        for _ in range(k):
            t = time.perf_counter()
            out = f()
            times.append(time.perf_counter() - t)
        return min(times), out


    t_bin, chunks = best(lambda: list(binary_copy_chunks(frame, types)))
    shp = frame.assign(location=shapely.set_srid(shapely.points(lon, lat), 4326))
    t_shp, _ = best(lambda: list(binary_copy_chunks(shp, types)))


    def csv_all():
        ready = _csv_ready(frame)
        return [_csv(ready.iloc[s:s + COPY_CHUNK]) for s in range(0, n, COPY_CHUNK)]


    t_csv, texts = best(csv_all, k=1)
    print(f"rows {n}: binary encode {t_bin:.2f} s ({sum(map(len, chunks)) / 1e6:.0f} MB); "
          f"binary encode from shapely points {t_shp:.2f} s; CSV _csv_ready+_csv {t_csv:.2f} s "
          f"({sum(map(len, texts)) / 1e6:.0f} MB)")

    url = LOCAL_DATABASE_URL.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS gridmap_pgcopy_probe")
        admin.execute("CREATE DATABASE gridmap_pgcopy_probe")
    url = url.rsplit("/", 1)[0] + "/gridmap_pgcopy_probe"
    ddl = ("(id bigint, source varchar(32), external_id varchar(64), category_code varchar(16), description text, "
           "raw_x float8, raw_y float8, raw_crs varchar(32), crs_assumed varchar(32), reported_at timestamptz, "
           "received_at timestamptz, location geometry(Point, 4326))")
    cols = ", ".join(frame.columns)
    with psycopg.connect(url) as conn:
        conn.execute("CREATE EXTENSION postgis")
        for label, fmt, data in (("binary", "binary", chunks), ("csv", "csv", texts)) * 2:
            conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS t_{label} {ddl}")
            conn.execute(f"TRUNCATE t_{label}")
            t = time.perf_counter()
            with conn.cursor() as cur, cur.copy(f"COPY t_{label} ({cols}) FROM STDIN (FORMAT {fmt})") as cp:
                for d in data:
                    cp.write(d)
            print(f"COPY {label}: {time.perf_counter() - t:.2f} s")
        same = conn.execute("SELECT count(*) FROM (SELECT * FROM t_binary EXCEPT SELECT * FROM t_csv) d").fetchone()
        print("rows of binary not in csv:", same[0])
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        admin.execute("DROP DATABASE gridmap_pgcopy_probe")


if __name__ == "__main__":
    main()

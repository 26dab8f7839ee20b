"""Write the bad-input corpus next to this file: small files that are each wrong in one way.

Committed with its outputs, so that the corpus is there to point any tool at (``gridmap import grids
tests/data/bad/self_intersecting.geojson``, curl, a soak run) without running Python first; re-run it after
changing a case: ``.venv/bin/python tests/data/bad/make_corpus.py``. The test that feeds every file to
the importers is tests/api/test_bad_input.py; EXPECTED (below) says what each file must be refused for.

Everything sits in Dongcheng (the sample district), so that the only thing wrong is the flaw itself.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
LON, LAT = 116.4105, 39.9245
D = 0.001


def square(lon: float = LON, lat: float = LAT, d: float = D) -> list[list[float]]:
    return [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]


def feature(coords: object, code: str, kind: str = "Polygon", **props: object) -> dict:
    geom = None if coords is None else {"type": kind, "coordinates": coords}
    return {"type": "Feature", "properties": {"code": code, "name": f"测试{code[-3:]}", **props}, "geometry": geom}


def collection(*features: dict) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}, ensure_ascii=False)


def good(i: int) -> dict:
    return feature([square(LON + 3 * D * i)], f"110101001001{900 + i}")


#: file -> (reason the importers must give, the row it must name or None)
EXPECTED: dict[str, tuple[str, int | None]] = {
    "malformed.geojson": ("unreadable", None),
    "truncated.geojson": ("unreadable", None),
    "self_intersecting.geojson": ("invalid_geometry", 2),
    "unclosed_ring.geojson": ("unreadable", None),  # GEOS refuses the whole file: no row to name
    "empty_geometry.geojson": ("invalid_geometry", 3),
    "null_geometry.geojson": ("invalid_geometry", 2),
    "huge_coordinates.geojson": ("coordinates_out_of_range", 2),
    "swapped_lat_lon.geojson": ("coordinates_out_of_range", 1),
    "nan_coordinates.geojson": ("coordinates_out_of_range", 2),
    "projected_without_crs.geojson": ("coordinates_out_of_range", 1),
    "empty_collection.geojson": ("empty_file", None),
    "truncated.gpkg": ("unreadable", None),
    "not_a_gpkg.gpkg": ("unreadable", None),
    "shapefile_without_dbf.zip": ("unreadable", None),
    "gbk_names_without_cpg.zip": ("unknown_encoding", None),
}
#: address registry files (gridmap import addresses): file -> reason
EXPECTED_ADDRESSES: dict[str, str] = {
    "addresses_gbk.csv": "unknown_encoding",
    "gbk_names_without_cpg.zip": "unknown_encoding",
    "malformed.geojson": "unreadable",
    "unclosed_ring.geojson": "unreadable",
    "truncated.gpkg": "unreadable",
    "shapefile_without_dbf.zip": "unreadable",
}


def write_geojson() -> None:
    (HERE / "malformed.geojson").write_text('{"type": "FeatureCollection", "features": [{"type": "Feat')
    full = collection(good(0), good(1), good(2))
    (HERE / "truncated.geojson").write_text(full[: len(full) // 2])
    bowtie = [[LON, LAT], [LON + D, LAT + D], [LON + D, LAT], [LON, LAT + D], [LON, LAT]]
    (HERE / "self_intersecting.geojson").write_text(collection(good(0), feature([bowtie], "110101001001902")))
    (HERE / "unclosed_ring.geojson").write_text(collection(good(0), feature([square()[:-1]], "110101001001902")))
    (HERE / "empty_geometry.geojson").write_text(collection(good(0), good(1), feature([], "110101001001903")))
    (HERE / "null_geometry.geojson").write_text(collection(good(0), feature(None, "110101001001902")))
    (HERE / "huge_coordinates.geojson").write_text(collection(good(0), feature([square(5e8, 4e8)],
                                                                               "110101001001902")))
    swapped = [[lat, lon] for lon, lat in square()]
    (HERE / "swapped_lat_lon.geojson").write_text(collection(feature([swapped], "110101001001901"), good(1)))
    nan = json.loads(collection(good(0), good(1)))
    nan["features"][1]["geometry"]["coordinates"][0][2] = ["NaN", "NaN"]
    (HERE / "nan_coordinates.geojson").write_text(json.dumps(nan).replace('"NaN"', "NaN"))
    # Beijing in CGCS2000 / 3-degree Gauss-Kruger zone 39 (EPSG:4527), saved with no CRS at all
    (HERE / "projected_without_crs.geojson").write_text(collection(
        feature([[[39448000, 4419000], [39448100, 4419000], [39448100, 4419100], [39448000, 4419000]]],
                "110101001001901")))
    (HERE / "empty_collection.geojson").write_text(collection())


def write_geopackage() -> None:
    import geopandas as gpd
    from shapely.geometry import Polygon

    gdf = gpd.GeoDataFrame({"code": ["110101001001901", "110101001001902"], "name": ["甲", "乙"]},
                           geometry=[Polygon(square()), Polygon(square(LON + 3 * D))], crs=4326)
    tmp = HERE / "_full.gpkg"
    gdf.to_file(tmp, driver="GPKG", layer="grids")
    raw = tmp.read_bytes()
    tmp.unlink()
    (HERE / "truncated.gpkg").write_bytes(raw[:4096])  # the SQLite header survives, the pages do not
    (HERE / "not_a_gpkg.gpkg").write_bytes(b"PK\x03\x04 this is a zip, or rather it is not\n" * 20)


def _shp_polygon(ring: list[list[float]]) -> tuple[bytes, bytes]:
    """A one-record polygon .shp and its .shx, written by hand (struct) so the bytes are exact."""
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    bbox = struct.pack("<4d", min(xs), min(ys), max(xs), max(ys))
    content = struct.pack("<i", 5) + bbox + struct.pack("<2i", 1, len(ring)) + struct.pack("<i", 0)
    content += b"".join(struct.pack("<2d", x, y) for x, y in ring)
    record = struct.pack(">2i", 1, len(content) // 2) + content

    def header(length_bytes: int) -> bytes:
        return (struct.pack(">7i", 9994, 0, 0, 0, 0, 0, length_bytes // 2) + struct.pack("<2i", 1000, 5)
                + bbox + struct.pack("<4d", 0, 0, 0, 0))

    shp = header(100 + len(record)) + record
    shx = header(100 + 8) + struct.pack(">2i", 50, len(content) // 2)
    return shp, shx


def _dbf(rows: list[tuple[str, bytes]]) -> bytes:
    """A dBase III table with two character fields (code, name), the name already encoded; LDID 0 (unknown)."""
    fields = [(b"code", 15), (b"name", 40)]
    header_len = 32 + 32 * len(fields) + 1
    record_len = 1 + sum(n for _, n in fields)
    out = struct.pack("<BBBBIHH20x", 3, 126, 1, 1, len(rows), header_len, record_len)
    for name, size in fields:
        out += name.ljust(11, b"\x00") + b"C" + b"\x00" * 4 + bytes([size, 0]) + b"\x00" * 14
    out += b"\r"
    for code, name in rows:
        out += b" " + code.encode().ljust(15) + name.ljust(40)
    return out + b"\x1a"


def write_shapefiles() -> None:
    shp, shx = _shp_polygon(square())
    prj = ('GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],'
           'PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]')
    gbk = _dbf([("110101001001901", "东城区和平里街道第一网格".encode("gbk"))])
    with zipfile.ZipFile(HERE / "gbk_names_without_cpg.zip", "w") as z:
        z.writestr("grids.shp", shp)
        z.writestr("grids.shx", shx)
        z.writestr("grids.dbf", gbk)
        z.writestr("grids.prj", prj)
    with zipfile.ZipFile(HERE / "gbk_names_with_cpg.zip", "w") as z:  # the good twin: decoded correctly
        z.writestr("grids.shp", shp)
        z.writestr("grids.shx", shx)
        z.writestr("grids.dbf", gbk)
        z.writestr("grids.prj", prj)
        z.writestr("grids.cpg", "GBK")
    with zipfile.ZipFile(HERE / "shapefile_without_dbf.zip", "w") as z:
        z.writestr("grids.shp", shp[:60])  # truncated inside the header, and no .shx/.dbf
        z.writestr("grids.prj", prj)


def write_csv() -> None:
    (HERE / "addresses_gbk.csv").write_bytes(
        "full_text,lon,lat\n北京市东城区和平里街道和平里中街1号,116.4105,39.9245\n".encode("gbk"))


def main() -> None:
    write_csv()
    write_geojson()
    write_geopackage()
    write_shapefiles()


if __name__ == "__main__":
    main()

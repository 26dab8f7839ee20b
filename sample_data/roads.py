"""The sample district's road network (issue 20): ``python sample_data/roads.py`` writes ``roads.gpkg`` (layer
``roads``) from ``dongcheng.gpkg.zip``, deterministically (no random draws), without touching the artefact.

What it holds, and how close to the real 东城区 it is:

- ``primary``: the generator's corridors (``generate.ROADS``: 东长安街, 王府井大街, 东四北大街, 崇文门外大街 …),
  the real main roads placed where they run (their real lines, straightened), kept free of buildings;
- ``secondary``: every other real main road of ``places.ROADS`` (景山前街, 五四大街, 前门大街, 两广路 …), drawn
  on a lane of the street (街道) the table lists it for: on the lane nearest the border of the two streets
  for a road that runs between two, else on the longest lane through its street. The table knows streets,
  not coordinates, so these are right to the street, not to the metre;
- ``lane``: the ~10 m gaps between the generator's 120 m blocks (where its hutongs and lanes are), each
  named after a hutong of its street (``places.HUTONGS``), cut where it would cross a building or a park.

Lines are stored as named roads, split at street borders; the network is noded where they cross
(:class:`geo.network.Network`).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

HERE = Path(__file__).resolve().parent
ARTEFACT = HERE / "dongcheng.gpkg.zip"
OUT = HERE / "roads.gpkg"
BLOCK = 120.0
MIN_LANE_M = 40.0


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def lattice_offset(coords: np.ndarray) -> float:
    """Where the block lattice's lanes lie (metres, modulo ``BLOCK``): the middle of the widest band of
    positions that no footprint vertex takes.

    >>> round(lattice_offset(np.concatenate([np.arange(10, 110, 0.5) + k * 120 for k in range(3)])), 1)
    115.0
    """
    hist = np.bincount(np.floor(np.mod(coords, BLOCK)).astype(int), minlength=int(BLOCK))
    empty = np.concatenate([hist == 0, hist == 0])  # circular
    best, start, run_start = 0, 0, None
    for i, e in enumerate(empty):
        if e and run_start is None:
            run_start = i
        if (not e or i == len(empty) - 1) and run_start is not None:
            length = i - run_start + (1 if e else 0)
            if length > best:
                best, start = length, run_start
            run_start = None
    return float(np.mod(start + best / 2, BLOCK))


def build(artefact: Path = ARTEFACT) -> gpd.GeoDataFrame:
    gen = _module("gridmap_sample_generate", HERE / "generate.py")
    places = gen.PLACES
    src = f"/vsizip/{artefact}/dongcheng.gpkg"
    streets = pyogrio.read_dataframe(src, layer="streets")
    blds = pyogrio.read_dataframe(src, layer="buildings")
    street_m = gen.to_m(np.asarray(streets.geometry.values, dtype=object))
    district = shapely.union_all(street_m)
    codes = [c[-3:] for c in streets.code]
    fp = gen.to_m(np.asarray(blds.geometry.values, dtype=object))
    xy = shapely.get_coordinates(fp)
    ox, oy = lattice_offset(xy[:, 0]), lattice_offset(xy[:, 1])
    parks = shapely.union_all([_box_m(gen, a, b, c, d) for _n, a, b, c, d in gen.PARKS])
    blocked = shapely.union_all([shapely.buffer(shapely.union_all(fp), 1.0), parks])

    rows: list[dict] = []

    def add(name: str, kind: str, geom, street: str | None) -> None:
        for part in shapely.get_parts(geom):
            if part.geom_type == "LineString" and part.length >= (MIN_LANE_M if kind == "lane" else 1.0):
                rows.append({"name": name, "kind": kind, "street_code": street, "geometry": part})

    # primary: the corridors, split at street borders
    corridor_names = set()
    for name, a, b, c, d, _w in gen.ROADS:
        (x0, x1), (y0, y1) = gen.xy_to_m(np.array([a, c]), np.array([b, d]))
        line = shapely.LineString([(x0, y0), (x1, y1)])
        corridor_names.add(name)
        for code, poly in zip(codes, street_m, strict=True):
            add(name, "primary", shapely.intersection(line, poly), f"110101{code}")

    # lanes: the lattice's gaps, cut by buildings, parks and the district's edge
    x_min, y_min, x_max, y_max = district.bounds
    lanes = [shapely.LineString([(x, y_min), (x, y_max)])
             for x in np.arange(x_min + np.mod(ox - x_min, BLOCK), x_max, BLOCK)]
    lanes += [shapely.LineString([(x_min, y), (x_max, y)])
              for y in np.arange(y_min + np.mod(oy - y_min, BLOCK), y_max, BLOCK)]
    lanes = [shapely.difference(shapely.intersection(ln, district), blocked) for ln in lanes]

    # secondary: each other main road of the table on one lane of its street(s)
    taken: dict[int, str] = {}
    for name, streets_of in places.ROADS.items():
        if name in corridor_names:
            continue
        want = streets_of.split()
        polys = [street_m[codes.index(s)] for s in want if s in codes]
        if not polys:
            continue
        if len(polys) >= 2:  # between two streets: the lane nearest their shared border
            border = shapely.intersection(shapely.boundary(polys[0]), shapely.boundary(polys[1]))
            target = border if not border.is_empty else shapely.union_all(polys)
            score = [(-(shapely.length(shapely.intersection(ln, shapely.buffer(target, 60))))
                      if i not in taken else np.inf) for i, ln in enumerate(lanes)]
        else:
            score = [(-shapely.length(shapely.intersection(ln, polys[0])) if i not in taken else np.inf)
                     for i, ln in enumerate(lanes)]
        i = int(np.argmin(score))
        if np.isfinite(score[i]) and score[i] < 0:
            taken[i] = name

    hutongs = places.streets_of(places.HUTONGS)
    for i, ln in enumerate(lanes):
        for code, poly in zip(codes, street_m, strict=True):
            piece = shapely.intersection(ln, poly)
            if piece.is_empty:
                continue
            if i in taken and code in places.ROADS[taken[i]].split():
                add(taken[i], "secondary", piece, f"110101{code}")
            else:
                names = hutongs.get(code) or [f"{streets.name.iloc[codes.index(code)]}小巷"]
                add(names[i % len(names)], "lane", piece, f"110101{code}")

    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    gdf["geometry"] = gen.to_deg(np.asarray(gdf.geometry.values, dtype=object))
    gdf["name_en"] = [gen.pinyin(n) for n in gdf["name"]]
    return by_name(gdf)


RANK = {"primary": 0, "secondary": 1, "lane": 2}


def by_name(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One row a road name (the road table's key): its lines, its highest kind, the streets it runs through;
    numbered by kind, then north→south, west→east."""
    out = []
    for name, g in gdf.groupby("name", sort=True):
        out.append({"name": name, "name_en": g["name_en"].iloc[0], "kind": min(g["kind"], key=RANK.__getitem__),
                    "streets": " ".join(sorted(set(g["street_code"].dropna()))),
                    "geometry": shapely.multilinestrings(list(shapely.get_parts(g.geometry.values)))})
    res = gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326")
    c = shapely.centroid(res.geometry.values)
    res = res.iloc[np.lexsort((shapely.get_x(c), -shapely.get_y(c), res["kind"].map(RANK).to_numpy()))]
    res = res.reset_index(drop=True)
    res.insert(0, "code", [f"R{i + 1:05d}" for i in range(len(res))])
    return res


def _box_m(gen, a: float, b: float, c: float, d: float):
    (x0, x1), (y0, y1) = gen.xy_to_m(np.array([a, c]), np.array([b, d]))
    return shapely.box(x0, y0, x1, y1)


def main() -> None:
    gdf = build()
    OUT.unlink(missing_ok=True)
    pyogrio.write_dataframe(gdf, OUT, layer="roads", driver="GPKG")
    print(f"wrote {OUT}: {len(gdf)} roads ({gdf['kind'].value_counts().to_dict()})")


if __name__ == "__main__":
    main()

"""Invariants of the committed sample (sample_data/dongcheng.gpkg.zip, people.csv.gz)
and determinism of sample_data/generate.py.

The artefact tests read the committed files, so they check what the loader will
actually get; the determinism test builds a tiny world (one street) twice.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely import STRtree

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
GPKG = f"/vsizip/{SAMPLE / 'dongcheng.gpkg.zip'}/dongcheng.gpkg"
METRIC = 32650  # UTM 50N, for areas

# the four planted defects of the committed artefact (seed 20261122), as in README.md
PLANTED = {
    "gap_grid": "110101009016008",
    "overlap_grids": ("110101001014001", "110101001014002"),  # (extended, into)
    "split_building": "1101010000791",
    "split_grids": ("110101017001003", "110101017001002"),
    "overloaded_grid": "110101015001001",
}
ROLES = {"grid_leader", "grid_worker", "building_chief", "unit_chief", "party_member", "volunteer"}
STATUSES = {
    "reported",
    "registered",
    "dispatched",
    "in_progress",
    "resolved",
    "verified",
    "closed",
    "returned",
    "escalated",
    "rejected",
}


def load_generator():
    spec = importlib.util.spec_from_file_location("gridmap_sample_generate", SAMPLE / "generate.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def layers() -> dict[str, gpd.GeoDataFrame]:
    names = ["district", "streets", "communities", "grids", "buildings", "facilities", "reports"]
    return {n: gpd.read_file(GPKG, layer=n) for n in names}


@pytest.fixture(scope="module")
def metric(layers) -> dict[str, gpd.GeoDataFrame]:
    return {n: layers[n].to_crs(METRIC) for n in ["district", "communities", "grids", "buildings"]}


@pytest.fixture(scope="module")
def people() -> pd.DataFrame:
    return pd.read_csv(SAMPLE / "people.csv.gz", dtype=str, keep_default_na=False)


def test_counts(layers, people):
    assert len(layers["district"]) == 1
    assert len(layers["streets"]) >= 8
    assert len(layers["communities"]) >= 40
    assert len(layers["grids"]) >= 300
    assert len(layers["buildings"]) >= 20_000
    assert len(layers["facilities"]) >= 60
    assert len(layers["reports"]) == 50_000
    assert len(people) > len(layers["grids"]) * 2


def test_crs_types_and_validity(layers):
    expected = {
        "district": "MultiPolygon",
        "streets": "MultiPolygon",
        "communities": "MultiPolygon",
        "grids": "MultiPolygon",
        "buildings": "Polygon",
        "facilities": "Point",
        "reports": "Point",
    }
    for name, gdf in layers.items():
        assert gdf.crs.to_epsg() == 4326, name
        assert set(gdf.geom_type) == {expected[name]}, name
        assert shapely.is_valid(gdf.geometry.to_numpy()).all(), name
        coords = shapely.get_coordinates(gdf.geometry.to_numpy())
        assert np.allclose(coords, np.round(coords, 7), atol=1e-9), name


def test_code_hierarchy(layers):
    st, cm, g, b = layers["streets"], layers["communities"], layers["grids"], layers["buildings"]
    assert st.code.str.fullmatch(r"110101\d{3}").all()
    assert cm.code.str.fullmatch(r"\d{12}").all() and cm.code.is_unique
    assert (cm.code.str.slice(0, 9) == cm.street_code).all()
    assert cm.street_code.isin(st.code).all()
    assert g.code.str.fullmatch(r"\d{15}").all() and g.code.is_unique
    assert (g.code.str.slice(0, 12) == g.community_code).all()
    assert g.community_code.isin(cm.code).all()
    assert set(cm.code) == set(g.community_code)  # every community has grids
    assert b.code.str.fullmatch(r"110101\d{7}").all() and b.code.is_unique
    assert layers["facilities"].code.str.fullmatch(r"F\d{4,}").all()
    # grid numbering starts at 1 and is contiguous per community
    seq = g.code.str.slice(12).astype(int)
    for _, s in seq.groupby(g.community_code):
        assert sorted(s) == list(range(1, len(s) + 1))


def test_streets_and_communities_tile_the_district(metric):
    d = metric["district"].geometry.iloc[0]
    st = metric["communities"].dissolve("street_code").geometry
    assert abs(st.area.sum() - d.area) < 1.0
    assert abs(shapely.union_all(st.to_numpy()).area - d.area) < 1.0
    assert abs(metric["communities"].area.sum() - d.area) < 1.0


def test_grids_tile_communities_except_planted(metric):
    g, cm = metric["grids"], metric["communities"]
    geoms = g.geometry.to_numpy()
    # gaps: community area not covered by its grids
    gaps = {}
    for code, comm in zip(cm.code, cm.geometry, strict=True):
        sel = geoms[(g.community_code == code).to_numpy()]
        missing = shapely.difference(comm, shapely.union_all(sel)).area
        extra = shapely.difference(shapely.union_all(sel), comm).area
        assert extra < 1.0, code
        if missing > 1.0:
            gaps[code] = missing
    gap_comm = PLANTED["gap_grid"][:12]
    assert set(gaps) == {gap_comm}
    assert 5_000 <= gaps[gap_comm] <= 20_000
    gap = shapely.difference(
        cm.geometry[cm.code == gap_comm].iloc[0], shapely.union_all(geoms[(g.community_code == gap_comm).to_numpy()])
    )
    assert not shapely.intersects(gap, metric["buildings"].geometry.to_numpy()).any()
    # overlaps between grids
    i, j = STRtree(geoms).query(geoms, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    area = shapely.area(shapely.intersection(geoms[i], geoms[j]))
    big = area > 1.0
    pairs = {frozenset((g.code.iloc[a], g.code.iloc[b])) for a, b in zip(i[big], j[big], strict=True)}
    assert pairs == {frozenset(PLANTED["overlap_grids"])}
    assert 2_000 <= area[big].sum() <= 10_000


def test_split_building_is_the_only_straddler(metric):
    g, b = metric["grids"], metric["buildings"]
    bg, gg = b.geometry.to_numpy(), g.geometry.to_numpy()
    bi, gi = STRtree(gg).query(bg, predicate="intersects")
    area = shapely.area(shapely.intersection(bg[bi], gg[gi]))
    real = area > 0.01
    cnt = np.bincount(bi[real], minlength=len(b))
    assert (cnt >= 1).all(), "building outside every grid"
    straddlers = b.code.to_numpy()[cnt > 1]
    assert list(straddlers) == [PLANTED["split_building"]]
    k = int(np.flatnonzero(cnt > 1)[0])
    sel = real & (bi == k)
    share = dict(zip(g.code.to_numpy()[gi[sel]], area[sel] / bg[k].area, strict=True))
    assert set(share) == set(PLANTED["split_grids"])
    assert 0.55 <= share[PLANTED["split_grids"][0]] <= 0.65


def test_households_norm_and_rollup(layers, metric):
    g, b = layers["grids"], metric["buildings"]
    over = g.code == PLANTED["overloaded_grid"]
    assert g.households[over].iloc[0] > 900
    assert g.households[~over].between(150, 650).all()
    # grid totals are sums over the buildings whose centroid is inside
    gi = STRtree(metric["grids"].geometry.to_numpy()).query(b.geometry.centroid.to_numpy(), predicate="within")
    assert np.bincount(gi[0], minlength=len(b)).max() <= 2  # overlap strip has no buildings
    s = pd.Series(b.households.to_numpy()[gi[0]]).groupby(gi[1]).sum()
    assert (s.reindex(range(len(g)), fill_value=0).to_numpy() == g.households.to_numpy()).all()


def test_buildings_plausible(layers):
    b = layers["buildings"]
    assert set(b.kind) <= {"residential", "courtyard", "school", "office", "market", "commercial"}
    assert b.units.between(1, 6).all() and (b.floors >= 1).all()
    nonres = ~b.kind.isin(["residential", "courtyard"])
    assert (b.households[nonres] == 0).all() and (b.households[~nonres] > 0).all()
    assert b.households[b.kind == "courtyard"].between(1, 3).all()
    ratio = b.population.sum() / b.households.sum()
    assert 2.2 < ratio < 2.6
    i, j = STRtree(b.geometry.to_numpy()).query(b.geometry.to_numpy(), predicate="intersects")
    assert (i == j).all(), "overlapping footprints"


def test_reports(layers):
    r = layers["reports"]
    cats = pd.read_csv(SAMPLE / "categories.csv", dtype=str)
    assert cats.code.str.fullmatch(r"[CEG]\d{5}").all() and cats.code.is_unique
    assert r.category_code.isin(cats.code).all()
    assert set(r.status) <= STATUSES
    assert 0.01 < (r.status == "rejected").mean() < 0.03
    assert r.groupby("source").external_id.apply(lambda s: s.is_unique).all()
    shares = r.source.value_counts(normalize=True)
    assert abs(shares["hotline_12345"] - 0.45) < 0.02 and abs(shares["patrol"] - 0.10) < 0.02
    iso = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00")
    assert r.reported_at.str.fullmatch(iso).all()
    assert (r.reported_at >= "2026-08-22").all() and (r.reported_at < "2026-11-20").all()
    closed = r.status == "closed"
    assert r.closed_at[closed].str.fullmatch(iso).all() and r.closed_at[~closed].isna().all()
    assert (r.closed_at[closed] >= r.reported_at[closed]).all()
    assert r.rating[~closed].isna().all() and r.rating.dropna().between(1, 5).all()
    d = layers["district"].geometry.iloc[0]
    outside = ~shapely.contains_xy(d, r.geometry.x, r.geometry.y)
    assert 0.003 < outside.mean() < 0.01


def test_people(layers, people):
    g = layers["grids"]
    assert set(people.role) == ROLES
    assert people.phone.str.fullmatch(r"1[358]\d{9}").all() and people.phone.is_unique
    assert people.grid_code.isin(g.code).all()
    assert (people.grid_code.str.slice(0, 12) == people.community_code).all()
    chiefs = people.role.isin(["building_chief", "unit_chief"])
    assert people.building_code[chiefs].isin(layers["buildings"].code).all()
    leaders = people[people.role == "grid_leader"].grid_code
    assert leaders.is_unique and set(leaders) == set(g.code)
    on = people[(people.role == "grid_worker") & (people.on_duty == "true")].grid_code
    assert on.is_unique and set(on) == set(g.code)


def test_readme_lists_planted_codes():
    text = (SAMPLE / "README.md").read_text(encoding="utf-8")
    for v in PLANTED.values():
        for code in v if isinstance(v, tuple) else (v,):
            assert code in text, code


def test_generator_is_deterministic():
    gen = load_generator()
    a, pa = gen.generate(seed=7, scale=1, limit_streets=1, n_reports=400, verbose=False)
    b, pb = gen.generate(seed=7, scale=1, limit_streets=1, n_reports=400, verbose=False)
    for name in ["district", "streets", "communities", "grids", "buildings", "facilities", "reports"]:
        fa, fb = a[name], b[name]
        pd.testing.assert_frame_equal(fa.drop(columns="geometry"), fb.drop(columns="geometry"))
        assert (shapely.to_wkb(fa.geometry.to_numpy()) == shapely.to_wkb(fb.geometry.to_numpy())).all()
    pd.testing.assert_frame_equal(pa, pb)
    assert len(a["grids"]) >= 5 and len(a["reports"]) == 400


def places():
    spec = importlib.util.spec_from_file_location("gridmap_sample_places_test", SAMPLE / "places.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_real_names_lie_in_their_real_streets(layers):
    """Every road, hutong and estate a building's address names is one sample_data/places.py lists for the
    street the building is in (王府井大街 in 东华门, 东四十条 in 东四/北新桥; issue 24)."""
    p = places()
    b, streets = layers["buildings"], layers["streets"]
    pts = b.geometry.representative_point()
    si, bi = STRtree(streets.geometry.to_numpy()).query(pts.to_numpy(), predicate="within")
    street = np.full(len(b), "", dtype=object)
    street[si] = streets.code.str[-3:].to_numpy()[bi]
    allowed = {code: set() for code in p.STREETS}
    for table in (p.ROADS, p.HUTONGS, p.ESTATES):
        for code, names in p.streets_of(table).items():
            allowed[code].update(names)
    names = sorted({n for t in (p.ROADS, p.HUTONGS, p.ESTATES) for n in t}, key=len, reverse=True)
    pattern = re.compile("^(?:北京市东城区)?(" + "|".join(map(re.escape, names)) + ")")
    checked = 0
    for addr, s in zip(b.address, street, strict=True):
        m = pattern.match(addr)
        assert m, f"{addr}: names no place of places.py"
        if s:
            assert m.group(1) in allowed[s], f"{addr} lies in street {s} ({p.STREETS[s]})"
            checked += 1
    assert checked > 0.95 * len(b)
    wfj = b.address.str.contains("王府井大街")
    assert wfj.any() and set(street[wfj.to_numpy()]) == {"001"}
    # reports on a road segment name a road of the street they lie in
    reports = layers["reports"]
    road = reports.description.str.extract("(" + "|".join(map(re.escape, p.ROADS)) + ")路段")[0]
    assert reports.description.str.contains("路段").sum() == road.notna().sum() > 1000
    ri, si = STRtree(streets.geometry.to_numpy()).query(reports.geometry.to_numpy(), predicate="within")
    rs = streets.code.str[-3:].to_numpy()[si]
    named = road.to_numpy()[ri]
    ok = [name in p.streets_of(p.ROADS)[code] for name, code in zip(named, rs, strict=True) if isinstance(name, str)]
    assert len(ok) > 1000 and all(ok)


def test_the_case_history_looks_like_a_working_office(layers):
    """Open cases sit mostly in the last days; overdue is a tail of ~1-3 % of the cases, thicker in the slow
    grids; closed on time and satisfaction near the 90 %+ Beijing publishes for 12345."""
    r = layers["reports"]
    cats = load_generator().load_categories().set_index("code").limit_clock_hours
    t = pd.to_datetime(r.reported_at, format="ISO8601", utc=True)
    deadline = t + pd.to_timedelta(r.category_code.map(cats), unit="h")
    now = pd.Timestamp("2026-11-20T12:00+08:00")  # the loader moves the reference date to today
    open_ = ~r.status.isin(["closed", "rejected"])
    overdue = open_ & (deadline < now)
    assert 0.005 < overdue.mean() < 0.03, overdue.sum()
    assert overdue.sum() < 0.6 * open_.sum()
    recent = (now - t) < pd.Timedelta(days=3)
    assert (open_ & recent).sum() > 0.6 * open_.sum()
    closed = r.status == "closed"
    on_time = pd.to_datetime(r.closed_at[closed], format="ISO8601", utc=True) <= deadline[closed]
    assert 0.9 < on_time.mean() < 0.99
    rated = r.rating.dropna()
    assert 0.9 < (rated >= 4).mean() < 0.97
    gen = load_generator()
    g = layers["grids"].sort_values("code").reset_index(drop=True)
    slow = (np.arange(len(g)) % gen.SLOW_EVERY) == gen.SLOW_AT
    ri, gi = STRtree(g.geometry.to_numpy()).query(r.geometry.to_numpy(), predicate="intersects")
    in_slow = np.zeros(len(r), dtype=bool)
    in_slow[ri[slow[gi]]] = True
    old = ((now - t) > pd.Timedelta(days=7)).to_numpy()
    rate_slow = overdue.to_numpy()[in_slow & old].mean()
    rate_rest = overdue.to_numpy()[~in_slow & old].mean()
    assert rate_slow > 3 * rate_rest, (rate_slow, rate_rest)

"""geo.coverage on synthetic layouts: each kind of defect is found, exactly, and float noise is not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from geo.catchment import CatchmentParams
from geo.coverage import Tolerances, analyse, analyse_shard, merge
from geo.shards import split_shards
from geo.synthetic import make_world


def kinds(res) -> list[str]:
    return sorted(res.findings["kind"])


def test_the_planted_defects_and_nothing_else() -> None:
    res = analyse(make_world(streets=4, reports=500))
    assert kinds(res) == ["building_split", "gap", "overlap", "overloaded"]
    f = res.findings.set_index("kind")
    assert 9_000 < f.loc["gap", "area_m2"] < 13_000
    assert f.loc["overlap", "codes"] == ["900001001003001", "900001001003002"]
    shares = f.loc["building_split", "detail"]["shares"]
    assert sorted(round(v, 2) for v in shares.values()) == [0.4, 0.6]
    assert f.loc["overloaded", "value"] == 921
    assert res.summary["balance"]["index"] == "cv"
    assert res.workload["reports"].sum() <= 500 and res.report_periods["reports"].sum() == res.workload["reports"].sum()


def test_a_clean_tiling_with_float_noise_reports_nothing() -> None:
    w = make_world(streets=1, defects=False)
    # nudge every vertex by less than the precision grid: not a sliver, not an overlap
    w.grids["geometry"] = shapely.transform(np.asarray(w.grids["geometry"], dtype=object),
                                            lambda c: c + 3e-9 * np.sin(c * 1e4))
    res = analyse(w)
    assert kinds(res) == []
    assert all(v["count"] == 0 for v in res.summary["slivers"].values())


def test_slivers_are_counted_not_reported() -> None:
    w = make_world(streets=1, defects=False)
    g = w.grids["geometry"].to_numpy().copy()
    x0, y0, x1, y1 = g[4].bounds
    g[4] = shapely.difference(g[4], shapely.box(x0, y0, x0 + 5e-6, y0 + 5e-6))  # a 0.5 m × 0.5 m notch
    w.grids["geometry"] = g
    res = analyse(w)
    assert kinds(res) == []
    assert res.summary["slivers"]["gap"]["count"] == 1 and 0 < res.summary["slivers"]["gap"]["area_m2"] < 1
    assert kinds(analyse(w, Tolerances(min_area_m2=0.1))) == ["gap"]


def test_grids_crossing_and_outside_communities_and_uncovered_buildings() -> None:
    w = make_world(streets=1, defects=False)
    g = w.grids["geometry"].to_numpy().copy()
    # the last grid of the street reaches 100 m beyond the district
    x0, y0, x1, y1 = g[-1].bounds
    g[-1] = shapely.box(x0, y0, x1 + 0.001, y1)
    # a grid of community 1 takes a strip of community 2 (and gives the same grid's strip up: a gap there)
    a = int(np.flatnonzero(w.grids["community_code"] == w.communities["code"][0])[2])
    x0, y0, x1, y1 = g[a].bounds
    g[a] = shapely.box(x0, y0, x1 + 0.0005, y1)
    w.grids["geometry"] = g
    # a building outside every grid, one half outside
    b = w.buildings
    bx0, by0, bx1, by1 = shapely.total_bounds(w.grids["geometry"].to_numpy())
    extra = pd.DataFrame({"code": ["X1", "X2"], "households": [10, 20], "population": [20, 40], "geometry": [
        shapely.box(bx0 - 0.002, by0 + 0.001, bx0 - 0.0018, by0 + 0.0012),
        shapely.box(bx0 - 0.0001, by0 + 0.004, bx0 + 0.0001, by0 + 0.0042)]})
    w.buildings = pd.concat([b, extra], ignore_index=True)
    res = analyse(w)
    found = res.findings
    assert set(found["kind"]) >= {"grid_crosses_community", "grid_outside_communities", "overlap",
                                  "building_uncovered"}
    assert set(found.loc[found.kind == "grid_outside_communities", "codes"].map(tuple)) == {
        (w.grids["code"].iloc[-1],)}
    unc = found[found.kind == "building_uncovered"].set_index(found.loc[found.kind == "building_uncovered", "codes"]
                                                               .map(lambda c: c[0]))
    assert unc.loc["X1", "detail"]["uncovered_share"] == 1.0
    assert abs(unc.loc["X2", "detail"]["uncovered_share"] - 0.5) < 0.01


def test_code_checks() -> None:
    w = make_world(streets=1, defects=False)
    codes = w.grids["code"].to_numpy().copy()
    codes[[0, 1]] = codes[[1, 0]]  # 001 and 002 of the first community swapped
    w.grids["code"] = codes
    res = analyse(w)
    seq = res.findings[res.findings.kind == "code_sequence"]
    assert len(seq) == 1 and seq.iloc[0]["codes"] == sorted(codes[[0, 1]])
    # a grid whose code names another community than the one it sits in
    w = make_world(streets=1, defects=False)
    c = w.grids["code"].to_numpy().copy()
    other = w.communities["code"].iloc[1]
    c[0] = other + "099"
    w.grids["code"] = c
    w.grids.loc[0, "community_code"] = other
    res = analyse(w)
    hier = res.findings[res.findings.kind == "code_hierarchy"]
    assert list(hier["codes"]) == [[other + "099"]]


def test_catchments_add_up() -> None:
    w = make_world(streets=2)
    res = analyse(w, catchment=CatchmentParams(distance_m=500, min_share=0.5))
    c = res.catchment
    assert set(c["kind"]) == {"clinic", "school", "elderly_care", "market"}
    assert (c.groupby("kind")["households"].sum() == res.workload["households"].sum()).all()
    assert ((c["share"] >= 0) & (c["share"] <= 1)).all()
    assert c["underserved"].any() and not c["underserved"].all()


def test_shards_give_the_same_answer() -> None:
    w = make_world(streets=4, reports=800)
    params = CatchmentParams(distance_m=600)
    one = analyse(w, catchment=params)
    parts = [analyse_shard(s, catchment=params) for s in split_shards(w, halo_m=1200)]
    many = merge(parts, w.grids, catchment=params)
    assert one.findings.drop(columns="geometry").equals(many.findings.drop(columns="geometry"))
    assert all(a.equals_exact(b, 0) for a, b in zip(one.findings.geometry, many.findings.geometry, strict=True))
    assert one.workload.equals(many.workload)
    assert one.report_periods.equals(many.report_periods)
    assert one.catchment.equals(many.catchment)
    assert one.summary == many.summary

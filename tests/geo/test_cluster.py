"""The Dask path (LocalCluster, worker processes) gives exactly the single-machine answer."""

from __future__ import annotations

import numpy as np
import pytest

from geo.catchment import CatchmentParams
from geo.coverage import CoverageResult, Tolerances, analyse
from geo.synthetic import make_world

pytest.importorskip("distributed")


def same(one: CoverageResult, many: CoverageResult) -> None:
    assert one.findings.drop(columns="geometry").equals(many.findings.drop(columns="geometry"))
    assert all(a.equals_exact(b, 0) for a, b in zip(one.findings.geometry, many.findings.geometry, strict=True))
    assert one.workload.equals(many.workload)
    assert one.report_periods.equals(many.report_periods)
    assert (one.catchment is None and many.catchment is None) or one.catchment.equals(many.catchment)
    assert one.summary == many.summary


def test_dask_local_cluster_matches_single_machine() -> None:
    from geo.cluster import analyse_distributed

    w = make_world(streets=6, reports=1000)
    params = CatchmentParams(distance_m=800)
    one = analyse(w, catchment=params)
    many = analyse_distributed(w, workers=2, catchment=params)
    same(one, many)
    assert sorted(many.findings["kind"]) == ["building_split", "gap", "overlap", "overloaded"]


def test_scheduler_address_and_a_shipped_layout() -> None:
    """A running cluster named by its scheduler address; a layout shipped once and analysed twice."""
    from distributed import Client, LocalCluster

    from geo.cluster import analyse_distributed, ship_layout

    w = make_world(streets=5, reports=500)
    params = CatchmentParams(distance_m=600)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster:
        same(analyse(w), analyse_distributed(w, scheduler=cluster.scheduler_address))
        with Client(cluster.scheduler_address) as client:
            shipped = ship_layout(client, w)
            same(analyse(w, catchment=params), analyse_distributed(shipped, catchment=params))
            strict = Tolerances(households_norm=(350, 450), min_area_m2=0.0)
            same(analyse(w, strict), analyse_distributed(shipped, strict))


def test_a_worker_that_joined_later_fetches_the_layout() -> None:
    """Tasks name the layout by key: a worker that does not hold it (it joined after the layout was
    shipped, or the memory manager dropped its replica) fetches it from the cluster."""
    from distributed import Client, LocalCluster

    from geo.cluster import run_group, ship_layout, street_groups
    from geo.coverage import merge

    w = make_world(streets=3)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster, Client(cluster) as client:
        shipped = ship_layout(client, w)
        cluster.scale(2)
        client.wait_for_workers(2)
        (late,) = set(client.nthreads()) - set(client.who_has(shipped.future)[shipped.key])
        parts = client.gather([client.submit(run_group, shipped.key, g, Tolerances(), workers=[late], pure=False)
                               for g in street_groups(np.ones(3), 3)])
        shipped.drop()
    same(analyse(w), merge(parts, w.grids))


def _dense_street(w, street: int = 0, *, seg_deg: float = 0.00002):
    """``w`` with the footprints of one street's communities densified (many more vertices, same
    shapes and counts): a street that weighs more than its row counts say."""
    import shapely

    comms = w.communities.loc[w.communities["street_code"] == sorted(set(w.communities["street_code"]))[street],
                              "geometry"]
    area = shapely.union_all(np.asarray(comms, dtype=object))
    geoms = np.asarray(w.buildings["geometry"], dtype=object)
    inside = shapely.within(shapely.centroid(geoms), area)
    geoms = geoms.copy()
    geoms[inside] = shapely.segmentize(geoms[inside], seg_deg)
    w.buildings = w.buildings.assign(geometry=geoms)
    return w, inside


def test_streets_weigh_their_vertices() -> None:
    """The workers weigh each street by the vertices of the rows it owns (the same ownership as
    split_shards), so a street of detailed footprints weighs more than one of as many boxes."""
    import shapely

    from geo.cluster import pack_layout, prepare, street_groups
    from geo.shards import split_shards

    w = make_world(streets=4, reports=300)
    plain = prepare(pack_layout(w), "test-plain").weights
    w, inside = _dense_street(w)
    dense = prepare(pack_layout(w), "test-dense").weights
    assert inside.sum() > 0 and dense[0] > 2 * plain[0]
    assert np.array_equal(dense[1:], plain[1:])
    expected = []
    for s in split_shards(w):
        n = 0.0
        for k in ("buildings", "grids", "communities"):
            own = s.__dict__[k][s.__dict__[k]["owned"]]
            n += float(shapely.get_num_coordinates(np.asarray(own["geometry"], dtype=object)).sum())
        expected.append(n + float(s.reports["owned"].sum()))
    assert dense.tolist() == expected
    groups = street_groups(dense, 2)
    assert groups[0] == [0]  # the heavy street alone, the three light ones together
    assert street_groups(plain, 2) == [[0, 1], [2, 3]] or street_groups(plain, 2) == [[2, 3], [0, 1]]


def test_tasks_pinned_to_one_worker_and_uneven_streets_match_single_machine() -> None:
    """Tasks pinned to one worker (``on=``), one or several per worker, over streets of uneven work:
    the compact partials add up to exactly the single-machine answer, and the stats say where each ran."""
    from distributed import Client, LocalCluster

    from geo.cluster import analyse_distributed, ship_layout

    w, _ = _dense_street(make_world(streets=5, reports=800))
    params = CatchmentParams(distance_m=700)
    one = analyse(w, catchment=params)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster, Client(cluster) as client:
        addrs = sorted(client.nthreads())
        shipped = ship_layout(client, w)
        for on, tpw in ((addrs[:1], 1), (addrs[:1], 3), (addrs, 1), (addrs, 2)):
            stats: dict = {}
            same(one, analyse_distributed(shipped, catchment=params, on=on, tasks_per_worker=tpw, stats=stats))
            assert {t["worker"] for t in stats["tasks"]} <= set(on)
            assert 1 <= len(stats["tasks"]) <= tpw * len(on)  # fewer when one street outweighs a share
            assert sum(t["streets"] for t in stats["tasks"]) == 5
            assert all(0 < t["cpu_s"] and t["cpu_s"] <= t["wall_s"] * 1.05 + 0.01 for t in stats["tasks"])
            assert stats["wall_s"] >= stats["compute_s"]
        shipped.drop()
        same(one, analyse_distributed(w, client=client, catchment=params, on=addrs[1:]))

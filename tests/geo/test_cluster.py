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

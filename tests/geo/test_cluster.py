"""The Dask path (LocalCluster, worker processes) gives exactly the single-machine answer."""

from __future__ import annotations

import pytest

from geo.catchment import CatchmentParams
from geo.coverage import analyse
from geo.synthetic import make_world


def test_dask_local_cluster_matches_single_machine() -> None:
    pytest.importorskip("distributed")
    from geo.cluster import analyse_distributed

    w = make_world(streets=6, reports=1000)
    params = CatchmentParams(distance_m=800)
    one = analyse(w, catchment=params)
    many = analyse_distributed(w, workers=2, catchment=params)
    assert one.findings.drop(columns="geometry").equals(many.findings.drop(columns="geometry"))
    assert all(a.equals_exact(b, 0) for a, b in zip(one.findings.geometry, many.findings.geometry, strict=True))
    assert one.workload.equals(many.workload)
    assert one.report_periods.equals(many.report_periods)
    assert one.catchment.equals(many.catchment)
    assert one.summary == many.summary
    assert sorted(many.findings["kind"]) == ["building_split", "gap", "overlap", "overloaded"]

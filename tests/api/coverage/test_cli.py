"""``gridmap coverage --scheduler``: the sample district analysed on a running Dask cluster gives the
very bytes of the single-machine run (summary, findings GeoJSON, workload CSV)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("distributed")


def test_cli_on_a_scheduler_address_matches_one_machine(tmp_path: Path, engine) -> None:  # fixture
    from distributed import LocalCluster

    from api.cli import app

    runner = CliRunner()
    one = runner.invoke(app, ["coverage", "--json", str(tmp_path / "one.json"), "--csv", str(tmp_path / "one.csv")])
    assert one.exit_code == 0, one.output
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster:
        many = runner.invoke(app, ["coverage", "--json", str(tmp_path / "many.json"), "--csv",
                                   str(tmp_path / "many.csv"), "--scheduler", cluster.scheduler_address])
    assert many.exit_code == 0, many.output
    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "many.json").read_bytes()
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "many.csv").read_bytes()
    assert b'"findings":4' in (tmp_path / "one.json").read_bytes().replace(b" ", b"")

"""Issue 17 defect 16: a worker reads the workload and coverage of its own grids only."""

from __future__ import annotations

import csv
import io

import httpx


def test_a_worker_reads_only_its_grids_workload_and_findings(client: httpx.Client, auth, login, grid_a) -> None:
    lid = grid_a.layout_id
    everyone = client.get(f"/api/v1/layouts/{lid}/workload", headers=auth("planner")).json()["grids"]
    assert len(everyone) > 1
    worker = login("worker", person_id=grid_a.worker_id)
    mine = client.get(f"/api/v1/layouts/{lid}/workload", headers=worker).json()["grids"]
    assert [g["code"] for g in mine] == [grid_a.code]
    rows = list(csv.DictReader(io.StringIO(client.get(f"/api/v1/layouts/{lid}/workload.csv",
                                                      headers=worker).text.lstrip("\ufeff"))))
    assert [r["code"] for r in rows] == [grid_a.code]
    findings = client.get(f"/api/v1/layouts/{lid}/coverage", headers=worker).json()["findings"]["features"]
    assert all(grid_a.code in f["properties"]["codes"] for f in findings)
    all_findings = client.get(f"/api/v1/layouts/{lid}/coverage", headers=auth("planner")).json()
    assert len(all_findings["findings"]["features"]) >= len(findings)

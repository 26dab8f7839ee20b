"""The soak's short form (issue 9): 300 reports posted concurrently while PostgreSQL is stopped and started and
the app is SIGKILLed and restarted; none lost, none duplicated, every decision and case as acknowledged.
`make soak` runs the long form (10,000 reports) and records the figures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine, make_url

from api.core.config import ROOT
from api.devtools.seeded import create_seeded_database, drop_database
from bench.soak import Plan, local_cluster, run


@pytest.fixture
def soak_url(engine: Engine) -> Iterator[str]:
    url = make_url(engine.url).set(database=f"{engine.url.database}_soak").render_as_string(hide_password=False)
    create_seeded_database(url)
    yield url
    drop_database(url)


@pytest.mark.exclusive
def test_no_report_is_lost_or_duplicated_through_a_database_restart_and_an_app_kill(soak_url: str) -> None:
    plan = Plan(reports=300, concurrency=16, keys=2, pg_stop=True, pg_down_s=2.0, app_kills=1)
    f = run(soak_url, plan, log_path=ROOT / ".data" / "soak-test-server.log", log=lambda _: None)
    detail = {k: f[k] for k in ("statuses", "faults", "client_errors", "examples", "methods")}
    assert f["acknowledged"] == 300 and f["gave_up"] == 0, detail
    assert f["lost"] == 0 and f["duplicated"] == 0 and f["stray"] == 0, detail
    assert f["in_database"] == 300 and f["mismatched"] == 0 and f["bad_routing_or_case_rows"] == 0, detail
    assert f["routing_not_holding"] == 0 and f["methods"].get("inside", 0) > 200, detail
    # The faults happened and were felt: retries, and only answers clients can act on (no bare 500s).
    assert f["app_kills"] == 1, detail
    if local_cluster(soak_url):
        assert f["pg_stops"] == 1, detail
    assert f["retries"] > 0 and f["retried_to_success"] > 0, detail
    assert f["500"] == 0 and f["non_problem_errors"] == 0, detail
    assert f["wall_p95_idle_ms"] and f["wall_p95_loaded_ms"] and f["wall_errors"] >= 0

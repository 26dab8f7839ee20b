"""Intake under load and faults (issue 9): does gridmap lose or duplicate a report when things break?

A load generator posts N reports concurrently to a real uvicorn (api/devtools/server.py) on its own copy of the
seeded database, each with an Idempotency-Key, retrying with exponential back-off and jitter (honouring
``Retry-After``) until it is acknowledged. Meanwhile faults are injected:

* PostgreSQL is stopped (``scripts/pg.sh stop``, fast shutdown: open transactions are cut) and started again
  after a few seconds. Only the project-local cluster of this checkout (``GRIDMAP_PG_PORT``, ``.data/pg``);
  with an external ``DATABASE_URL`` this fault is skipped and the figures say so. The app is *not* restarted:
  it must come back by itself (pool pre-ping, 503 ``database_unavailable`` meanwhile).
* The app process is SIGKILLed mid-stream and started again on the same port.

A probe reads the map wall (``GET /api/v1/wall/heatmap``) throughout, idle first, then with intake saturated.

Then the database is checked against what the clients were told: every acknowledged report is there exactly
once (by its key, with the id it was acknowledged with), none is missing, no key has two reports, each report
has exactly one routing decision and one case that agree with each other and with the acknowledgement, and
every decision holds against PostGIS (inside/edge: the grid covers the point; nearest: within the tolerance;
outside_coverage: no grid within it).

    python -m bench.soak [--reports 10000] [--concurrency 64] [--pg-down 5] [--app-kills 1] [--no-pg-stop]

``make soak`` runs the long form and writes the figures to bench/results.json; tests/bench/test_soak.py
runs a short form (300 reports) in ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.core.config import LOCAL_PG_PORT, ROOT, get_settings, sqlalchemy_url
from api.devtools.server import LiveServer

RESULTS = Path(__file__).resolve().parent / "results.json"
RETRY_STATUSES = {429, 500, 502, 503, 504}


@dataclass
class Plan:
    reports: int = 10_000
    concurrency: int = 64
    keys: int = 4
    pg_stop: bool = True
    pg_down_s: float = 5.0
    app_kills: int = 1
    seed: int = 9
    #: Give up on a report this long after its first attempt (counted in ``gave_up``: the run fails).
    give_up_s: float = 300.0
    #: Server settings for the run: a per-key rate a little under the offered load, so 429s are exercised.
    server_env: dict[str, str] = field(default_factory=lambda: {"GRIDMAP_INTAKE_RATE": "40",
                                                                  "GRIDMAP_INTAKE_BURST": "80"})


@dataclass
class Outcome:
    key: str
    attempts: int = 0
    acked: bool = False
    status: int | None = None
    id: int | None = None
    case_id: int | None = None
    grid: str | None = None
    method: str | None = None
    failures: Counter = field(default_factory=Counter)


def local_cluster(url: str) -> bool:
    """Whether ``url`` is this checkout's project-local cluster (the only one the soak may stop)."""
    u = make_url(sqlalchemy_url(url))
    return (u.host in ("127.0.0.1", "localhost") and (u.port or 5432) == LOCAL_PG_PORT
            and (ROOT / ".data" / "pg" / "PG_VERSION").exists())


def pg(action: str) -> None:
    subprocess.run([str(ROOT / "scripts" / "pg.sh"), action], cwd=ROOT, check=True, capture_output=True,
                   env={**os.environ, "GRIDMAP_PG_PORT": str(LOCAL_PG_PORT)})


def prepare(url: str, plan: Plan, run_id: str) -> tuple[list[str], str, list[dict], str]:
    """Keys (committed), the report bodies (varied: inside, on edges and vertices, near and far outside) and
    the wall's bbox."""
    from api.auth.service import create_key

    engine = create_engine(sqlalchemy_url(url))
    rng = np.random.default_rng(plan.seed)
    with Session(engine) as s:
        keys = [create_key(s, name=f"soak intake {i}", role="intake")[1] for i in range(plan.keys)]
        commander = create_key(s, name="soak wall", role="dispatcher")[1]
        s.commit()
        lid = s.execute(text("SELECT id FROM grid_layout WHERE status = 'published' ORDER BY effective_from DESC "
                             "LIMIT 1")).scalar_one()
        inside = np.array(s.execute(text("SELECT ST_X(location), ST_Y(location) FROM report TABLESAMPLE SYSTEM (20) "
                                         "WHERE location IS NOT NULL LIMIT 5000")).all())
        vertices = np.array(s.execute(text("""SELECT ST_X(p.geom), ST_Y(p.geom) FROM grid g,
            LATERAL ST_DumpPoints(g.boundary) p WHERE g.layout_id = :l AND p.path[3] % 7 = 0"""), {"l": lid}).all())
        x0, y0, x1, y1 = s.execute(text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                                        "(SELECT ST_Extent(boundary) e FROM grid WHERE layout_id = :l) t"),
                                   {"l": lid}).one()
        cats = s.execute(text("SELECT code FROM category ORDER BY code")).scalars().all()
    engine.dispose()
    bodies = []
    for i in range(plan.reports):
        kind = rng.random()
        if kind < 0.90:
            lon, lat = inside[rng.integers(len(inside))] + rng.normal(0, 0.0003, 2)
        elif kind < 0.95:
            lon, lat = vertices[rng.integers(len(vertices))]  # exactly on a shared vertex: edge
        elif kind < 0.98:
            lon, lat = x1 + rng.uniform(0.00001, 0.0004), rng.uniform(y0, y1)  # just east: nearest or outside
        else:
            lon, lat = x1 + rng.uniform(0.01, 0.05), rng.uniform(y0, y1)  # far away: unrouted
        bodies.append({"source": "soak", "external_id": f"{run_id}-{i:06d}", "category": cats[i % len(cats)],
                       "description": f"压力测试 {i}", "lon": float(lon), "lat": float(lat)})
    return keys, commander, bodies, f"{x0},{y0},{x1},{y1}"


class Server:
    """The app under test, restartable on the same port."""

    def __init__(self, url: str, plan: Plan, log_path: Path) -> None:
        self.url, self.plan, self.log_path = url, plan, log_path
        self.live = LiveServer(url, log_path=log_path, env=plan.server_env, timeout=120)
        self.base = self.live.base

    def kill_and_restart(self) -> float:
        self.live.kill()
        t = time.perf_counter()
        self.live = LiveServer(self.url, log_path=self.log_path, env=self.plan.server_env, port=self.live.port,
                               append_log=True, timeout=120)
        return time.perf_counter() - t

    def close(self) -> None:
        self.live.close()


async def post_one(client: httpx.AsyncClient, body: dict, key: str, out: Outcome, lat: list[float],
                   statuses: Counter, give_up_s: float, rng: random.Random) -> None:
    """Post until acknowledged: back-off doubling from 0.1 s to 5 s with full jitter, or Retry-After."""
    delay = 0.1
    give_up_at = time.perf_counter() + give_up_s
    while True:
        out.attempts += 1
        t = time.perf_counter()
        wait = None
        try:
            r = await client.post("/api/v1/reports", json=body,
                                  headers={"Authorization": f"Bearer {key}", "Idempotency-Key": out.key})
            statuses[r.status_code] += 1
            if r.status_code in (200, 201):
                lat.append(time.perf_counter() - t)
                data = r.json()
                out.acked, out.status, out.id = True, r.status_code, data["id"]
                out.case_id = data["case"]["id"] if data.get("case") else None
                out.grid = data["routing"]["grid_code"] if data.get("routing") else None
                out.method = data["routing"]["method"] if data.get("routing") else None
                return
            if r.status_code not in RETRY_STATUSES:  # a 4xx is the client's fault: retrying cannot help
                out.failures[f"http {r.status_code} {r.text[:200]}"] += 1
                return
            code = r.json().get("code", "?") if r.headers.get("content-type", "").startswith(
                "application/problem+json") else "not-problem-json"
            out.failures[f"{r.status_code} {code}"] += 1
            if "retry-after" in r.headers:
                wait = float(r.headers["retry-after"])
        except (httpx.TransportError, ValueError) as exc:  # refused, reset, timed out, cut mid-body
            statuses[type(exc).__name__] += 1
            out.failures[type(exc).__name__] += 1
        if time.perf_counter() > give_up_at:
            return
        await asyncio.sleep((wait or 0) + rng.uniform(0, delay))
        delay = min(delay * 2, 5.0)


async def probe(client: httpx.AsyncClient, path: str, key: str, until: asyncio.Event,
                samples: list[tuple[float, float, int]], interval: float = 0.2) -> None:
    while not until.is_set():
        t = time.perf_counter()
        try:
            r = await client.get(path, headers={"Authorization": f"Bearer {key}"})
            samples.append((t, time.perf_counter() - t, r.status_code))
        except httpx.TransportError:
            samples.append((t, time.perf_counter() - t, 0))
        await asyncio.sleep(interval)


def _p(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 1) if values else None


async def drive(server: Server, plan: Plan, keys: list[str], commander: str, bodies: list[dict], bbox: str,
                run_id: str, *, pg_fault: bool, log=print) -> dict:
    rng = random.Random(plan.seed)
    outcomes = [Outcome(key=f"{run_id}-{i:06d}") for i in range(len(bodies))]
    lat: list[float] = []
    statuses: Counter = Counter()
    faults: list[dict] = []
    wall_path = f"/api/v1/wall/heatmap?bbox={bbox}&zoom=15&window=today"
    timeout = httpx.Timeout(30.0, connect=5.0)
    limits = httpx.Limits(max_connections=plan.concurrency + 4, max_keepalive_connections=plan.concurrency + 4)
    async with httpx.AsyncClient(base_url=server.base, timeout=timeout, limits=limits) as client, \
            httpx.AsyncClient(base_url=server.base, timeout=timeout) as wall:
        # The wall, idle (after a few warm-up reads: first reads fill caches and the connection pool).
        for _ in range(5):
            await wall.get(wall_path, headers={"Authorization": f"Bearer {commander}"})
        idle: list[tuple[float, float, int]] = []
        stop_idle = asyncio.Event()
        task = asyncio.create_task(probe(wall, wall_path, commander, stop_idle, idle, interval=0.1))
        await asyncio.sleep(4.0)
        stop_idle.set()
        await task
        loaded: list[tuple[float, float, int]] = []
        stop = asyncio.Event()
        probe_task = asyncio.create_task(probe(wall, wall_path, commander, stop, loaded))

        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(len(bodies)):
            queue.put_nowait(i)
        acked = [0]
        t0 = time.perf_counter()

        async def worker() -> None:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await post_one(client, bodies[i], keys[i % len(keys)], outcomes[i], lat, statuses, plan.give_up_s,
                               rng)
                acked[0] += outcomes[i].acked

        async def injector() -> None:
            n = len(bodies)
            marks = []
            if pg_fault:
                marks.append((0.25, "pg_stop"))
            marks += [(0.45 + 0.4 * k / max(1, plan.app_kills), "app_kill") for k in range(plan.app_kills)]
            for frac, kind in marks:
                while acked[0] < frac * n and not queue.empty():
                    await asyncio.sleep(0.05)
                start = time.perf_counter()
                if kind == "pg_stop":
                    log(f"  fault: stopping PostgreSQL at {acked[0]}/{n} acknowledged")
                    await asyncio.to_thread(pg, "stop")
                    await asyncio.sleep(plan.pg_down_s)
                    await asyncio.to_thread(pg, "start")
                else:
                    log(f"  fault: SIGKILL of the app at {acked[0]}/{n} acknowledged")
                    restart = await asyncio.to_thread(server.kill_and_restart)
                    log(f"  app back after {restart:.1f} s")
                faults.append({"kind": kind, "at": round(start - t0, 2), "for_s": round(time.perf_counter() - start, 2),
                               "acked_before": acked[0]})

        inj = asyncio.create_task(injector())
        await asyncio.gather(*(worker() for _ in range(plan.concurrency)))
        elapsed = time.perf_counter() - t0
        await inj
        stop.set()
        await probe_task

    # Wall latency while intake was saturated: the load phase minus the fault windows (plus 3 s after each).
    windows = [(t0 + f["at"], t0 + f["at"] + f["for_s"] + 3.0) for f in faults]
    steady = [d for (t, d, s) in loaded if s == 200 and t < t0 + elapsed - 1
              and not any(a <= t <= b for a, b in windows)]
    idle_ok = [d for (_, d, s) in idle if s == 200]
    return {"outcomes": outcomes, "latencies": lat, "statuses": statuses, "faults": faults, "elapsed": elapsed,
            "wall_idle": idle_ok, "wall_loaded": steady,
            "wall_errors": sum(1 for (_, _, s) in loaded if s != 200)}


def verify(url: str, run_id: str, outcomes: list[Outcome], tolerance_m: float) -> dict:
    """Compare the database with what every client was told."""
    engine = create_engine(sqlalchemy_url(url))
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT r.idempotency_key AS key, r.id, r.external_id,
                   (SELECT count(*) FROM routing x WHERE x.report_id = r.id) AS n_routing,
                   (SELECT count(*) FROM cases c WHERE c.report_id = r.id) AS n_cases,
                   rt.grid_code, rt.method, rt.reason, rt.layout_id, k.id AS case_id, k.grid_code AS case_grid,
                   (SELECT count(*) FROM case_event e WHERE e.case_id = k.id) AS n_events,
                   CASE WHEN rt.method IN ('inside', 'edge') THEN
                        (SELECT ST_Covers(g.boundary, r.location) FROM grid g
                         WHERE g.layout_id = rt.layout_id AND g.code = rt.grid_code)
                        WHEN rt.method = 'nearest' THEN
                        (SELECT NOT ST_Covers(g.boundary, r.location)
                                AND ST_DWithin(g.boundary::geography, r.location::geography, :tol + 0.5)
                         FROM grid g WHERE g.layout_id = rt.layout_id AND g.code = rt.grid_code)
                        WHEN rt.reason = 'outside_coverage' THEN
                        NOT EXISTS (SELECT 1 FROM grid g WHERE g.layout_id = rt.layout_id
                                    AND ST_DWithin(g.boundary::geography, r.location::geography, :tol - 0.5))
                   END AS holds
            FROM report r
            LEFT JOIN LATERAL (SELECT * FROM routing x WHERE x.report_id = r.id ORDER BY x.id LIMIT 1) rt ON true
            LEFT JOIN LATERAL (SELECT * FROM cases c WHERE c.report_id = r.id ORDER BY c.id LIMIT 1) k ON true
            WHERE r.source = 'soak' AND r.external_id LIKE :prefix"""),
            {"prefix": run_id + "-%", "tol": tolerance_m}).mappings().all()
    engine.dispose()
    by_key: dict[str, list] = {}
    for r in rows:
        by_key.setdefault(r["key"], []).append(r)
    acked = [o for o in outcomes if o.acked]
    lost = [o.key for o in acked if o.key not in by_key]
    duplicated = sum(len(v) - 1 for v in by_key.values() if len(v) > 1)
    mismatched = []
    for o in acked:
        found = by_key.get(o.key)
        if not found:
            continue
        r = found[0]
        if (r["id"], r["case_id"], r["grid_code"], r["method"]) != (o.id, o.case_id, o.grid, o.method):
            mismatched.append(o.key)
    stray = [k for k in by_key if k not in {o.key for o in outcomes}]
    bad_rows = [r["key"] for r in rows if r["n_routing"] != 1 or r["n_cases"] != 1 or r["n_events"] < 1
                or r["case_grid"] != r["grid_code"]]
    wrong_routing = [r["key"] for r in rows if r["holds"] is False]
    return {"in_database": len(rows), "lost": len(lost), "duplicated": duplicated, "mismatched": len(mismatched),
            "stray": len(stray), "bad_routing_or_case_rows": len(bad_rows), "routing_not_holding": len(wrong_routing),
            "methods": dict(Counter(r["method"] for r in rows)), "examples": (lost + mismatched + bad_rows
                                                                              + wrong_routing)[:5]}


def run(url: str, plan: Plan, *, log_path: Path, log=print) -> dict:
    """Run the soak against the (already seeded) database at ``url``; returns the figures."""
    run_id = f"soak{datetime.now(UTC):%H%M%S}{random.randrange(1000):03d}"
    pg_fault = plan.pg_stop and local_cluster(url)
    keys, commander, bodies, bbox = prepare(url, plan, run_id)
    server = Server(url, plan, log_path)
    try:
        found = asyncio.run(drive(server, plan, keys, commander, bodies, bbox, run_id, pg_fault=pg_fault, log=log))
    finally:
        server.close()
        if pg_fault:
            pg("start")  # whatever happened, leave the cluster running
    outcomes: list[Outcome] = found["outcomes"]
    check = verify(url, run_id, outcomes, get_settings().routing_tolerance_m)
    statuses: Counter = found["statuses"]
    attempts = sum(o.attempts for o in outcomes)
    failed_first = [o for o in outcomes if o.attempts > 1]
    fivexx = sum(v for k, v in statuses.items() if isinstance(k, int) and k >= 500)
    not_problem = sum(1 for o in outcomes for k in o.failures if "not-problem-json" in k)
    idle, loaded = found["wall_idle"], found["wall_loaded"]
    p95_idle = _p(idle, 95)
    p95_loaded = _p(loaded, 95)
    return {
        "reports": len(bodies), "concurrency": plan.concurrency, "keys": plan.keys, "requests_sent": attempts,
        "retries": attempts - len(bodies), "elapsed_s": round(found["elapsed"], 1),
        "acknowledged": sum(o.acked for o in outcomes), "gave_up": sum(not o.acked for o in outcomes),
        "retried_to_success": sum(o.acked for o in failed_first),
        "replayed_acks": sum(o.status == 200 for o in outcomes),
        "faults": found["faults"], "pg_stop": "injected" if pg_fault else (
            "skipped: not the project-local cluster (external DATABASE_URL)" if plan.pg_stop else "not planned"),
        "app_kills": sum(f["kind"] == "app_kill" for f in found["faults"]),
        "pg_stops": sum(f["kind"] == "pg_stop" for f in found["faults"]),
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))},
        "5xx": fivexx, "500": statuses.get(500, 0), "non_problem_errors": not_problem,
        "client_errors": dict(Counter(k for o in outcomes if not o.acked for k in o.failures)),
        "p50_ms": _p(found["latencies"], 50), "p99_ms": _p(found["latencies"], 99),
        "throughput_per_s": round(sum(o.acked for o in outcomes) / found["elapsed"], 1),
        "wall_p95_idle_ms": p95_idle, "wall_p95_loaded_ms": p95_loaded,
        "wall_samples": [len(idle), len(loaded)], "wall_errors": found["wall_errors"],
        "wall_ratio": round(p95_loaded / p95_idle, 2) if p95_idle and p95_loaded else None,
        **check,
    }


def soak_database() -> str:
    from api.devtools.seeded import create_seeded_database

    base = make_url(sqlalchemy_url(get_settings().database_url))
    url = base.set(database=f"{base.database}_soak").render_as_string(hide_password=False)
    create_seeded_database(url)
    return url


def record(figures: dict, command: str) -> None:
    """The soak's figures into bench/results.json, beside the benchmarks (same shape as bench/run.py)."""
    from bench.common import machine

    lost, dup = figures["lost"], figures["duplicated"]
    common = {"command": command, "machine": f"{os.cpu_count()} cores", "baseline": 0, "ratio": None}
    note = (f"{figures['reports']} reports, {figures['concurrency']} concurrent clients, {figures['keys']} keys; "
            f"faults: {figures['pg_stops']} PostgreSQL stop ({figures['pg_stop']}), {figures['app_kills']} app "
            f"SIGKILL; {figures['requests_sent']} requests, {figures['retries']} retries, {figures['5xx']} 5xx "
            f"({figures['500']} 500), statuses {figures['statuses']}; p50 {figures['p50_ms']} ms, p99 "
            f"{figures['p99_ms']} ms; gave up {figures['gave_up']}, mismatched {figures['mismatched']}")
    measures = [
        {"name": "soak_lost_reports", "value": lost, "unit": "reports", "baseline_name": "must be 0", **common,
         "note": note, "figures": figures},
        {"name": "soak_duplicated_reports", "value": dup, "unit": "reports", "baseline_name": "must be 0", **common,
         "note": note},
        {"name": "soak_intake_p99", "value": figures["p99_ms"], "unit": "ms", "baseline_name": "p50 of the same run",
         **{**common, "baseline": figures["p50_ms"]},
         "note": "acknowledged POST /api/v1/reports under load with faults"},
        {"name": "wall_p95_under_intake", "value": figures["wall_p95_loaded_ms"], "unit": "ms",
         **{**common, "baseline": figures["wall_p95_idle_ms"], "ratio": figures["wall_ratio"]},
         "baseline_name": "same probe, intake idle",
         "note": f"GET /api/v1/wall/heatmap every 0.2 s while {figures['concurrency']} clients post reports "
                 f"(fault windows excluded); {figures['wall_samples'][1]} samples loaded, "
                 f"{figures['wall_samples'][0]} idle; ratio = loaded / idle"},
    ]
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    by_name = {m["name"]: m for m in previous.get("measures", [])}
    by_name.update({m["name"]: m for m in measures})
    RESULTS.write_text(json.dumps({"generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                                   "machine": previous.get("machine") or machine(),
                                   "measures": list(by_name.values())}, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--keys", type=int, default=4)
    parser.add_argument("--pg-down", type=float, default=5.0, help="seconds PostgreSQL stays stopped")
    parser.add_argument("--no-pg-stop", action="store_true")
    parser.add_argument("--app-kills", type=int, default=1)
    parser.add_argument("--no-record", action="store_true", help="do not write bench/results.json")
    args = parser.parse_args()
    plan = Plan(reports=args.reports, concurrency=args.concurrency, keys=args.keys, pg_stop=not args.no_pg_stop,
                pg_down_s=args.pg_down, app_kills=args.app_kills)
    url = soak_database()
    print(f"soak: {plan.reports} reports, {plan.concurrency} clients, database {make_url(url).database}", flush=True)
    figures = run(url, plan, log_path=Path(tempfile.gettempdir()) / "gridmap-soak-server.log",
                  log=lambda m: print(m, flush=True))
    show = {k: v for k, v in figures.items() if k not in ("examples",)}
    print(json.dumps(show, indent=2, ensure_ascii=False))
    ok = figures["lost"] == 0 and figures["duplicated"] == 0 and figures["gave_up"] == 0 \
        and figures["mismatched"] == 0 and figures["bad_routing_or_case_rows"] == 0 \
        and figures["routing_not_holding"] == 0 and figures["500"] == 0 and figures["stray"] == 0
    if not args.no_record:
        cmd = "make soak  (python -m bench.soak " + " ".join(sys.argv[1:]) + ")"
        record(figures, cmd.replace(" )", ")"))
        print(f"wrote {RESULTS}")
    print("soak: PASS" if ok else f"soak: FAIL {figures['examples']}")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()

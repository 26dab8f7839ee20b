"""Schemathesis over the whole OpenAPI spec, every operation with every role that may call it.

What must hold for every generated request, valid or not (schemathesis' positive and negative modes): every
one of schemathesis' checks (``--checks all``: no 5xx, every status, content type, header and body as the
document declares, schema-valid input accepted and invalid input refused, 405 with ``Allow`` for an undeclared
method, ...), and every 4xx is ``application/problem+json`` with a machine-readable ``code``.

The app runs in-process (ASGI) on the test's rolled-back transaction; each request is one savepoint,
committed when it succeeds and rolled back when it fails, exactly as ``api.core.deps.get_session`` does
per request in production, so a refused request leaves nothing behind for the next one and the whole
test leaves the seeded database as it found it.

Profiles (``GRIDMAP_FUZZ_PROFILE``): ``short`` (the default, in ``make test``: a few examples per
operation and role, derandomised so CI is stable) and ``long`` (``make soak``: many more, shrinking on).
``GRIDMAP_FUZZ_RESULTS=path.json`` writes the figures (operations, examples, statuses, 5xx) there.

Left out: ``GET /api/v1/wall/stream`` (server-sent events that never end; its only input is the ticket,
whose refusals are covered by the access matrix and tests/api/wall).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import FailureGroup
from sqlalchemy.orm import Session

from api.core.config import get_settings
from api.main import create_app
from tests.api.access_table import EXPECTED, ROLES
from tests.api.errors import error_of
from tests.api.harness import bind_savepoints

PROFILE = os.environ.get("GRIDMAP_FUZZ_PROFILE", "short")
if PROFILE not in ("short", "long"):
    raise ValueError(f"GRIDMAP_FUZZ_PROFILE must be short or long, not {PROFILE!r}")
#: Examples per (operation, role): admin goes deepest (passes every check), the other roles see their scope.
EXAMPLES = {"short": {"admin": 8, "other": 3, "heavy": 2}, "long": {"admin": 150, "other": 40, "heavy": 15}}[PROFILE]
#: Whole-layout analyses take seconds per valid call on the sample district: fewer examples.
HEAVY = ("/coverage", "/workload", "/catchments", "/cases/rates", "/walk-catchments")
# the stream takes a ticket, not a key; logout takes a login token only (every role's key is refused)
EXCLUDED = {("GET", "/api/v1/wall/stream"), ("POST", "/api/v1/auth/logout")}

load_all_checks()
#: Every built-in check (what ``schemathesis run --checks all`` runs).
ALL_CHECKS = CHECKS.get_all()
_APP = create_app()
SPEC = _APP.openapi()
SCHEMA = schemathesis.openapi.from_dict(SPEC)
# Credentials are ours (a real key or login per role); missing and bad ones are the access matrix's job
# (tests/api/test_access_matrix.py), so negative examples spend themselves on the parameters instead.
SCHEMA.config.generation.update(with_security_parameters=False)
OPERATIONS = {
    (op.method.upper(), op.path): op
    for op in (r.ok() for r in SCHEMA.get_all_operations())
}
PAIRS = [
    (method, path, role)
    for (method, path) in sorted(OPERATIONS)
    if (method, path) not in EXCLUDED
    for role in ROLES
    if EXPECTED.get((method, path)) is not None and EXPECTED[(method, path)].allows(role)
    and (EXPECTED[(method, path)].kind != "public" or role == "admin")
]

STATS: dict[str, Any] = {"profile": PROFILE, "operations": set(), "pairs": 0, "examples": 0, "statuses": Counter(),
                         "by_operation": defaultdict(Counter),
                         "server_errors": [], "non_problem_errors": [], "check_failures": Counter(),
                         "documented_refusals": 0}


def test_every_operation_is_fuzzed_or_excluded_with_a_reason() -> None:
    fuzzed = {(m, p) for m, p, _ in PAIRS}
    assert set(OPERATIONS) - fuzzed == EXCLUDED
    assert len(OPERATIONS) >= 70


@pytest.fixture(scope="module")
def fuzz_app() -> Iterator[Any]:
    """One app for the module (its lifespan is started once by schemathesis' ASGI transport); no LISTEN
    thread, since nothing is ever committed for a notification to tell."""
    conf = get_settings()
    was = conf.listen
    conf.listen = False
    app = create_app()
    SCHEMA.app = app  # the checks that send a request again (ignored_auth, unsupported_method, ...) send it here
    yield app
    conf.listen = was
    app.dependency_overrides.clear()


def _credentials(db: Session, role: str) -> dict[str, str]:
    """A key of the role; the worker is a logged-in worker *user* scoped to a real grid (the interesting case)."""
    from sqlalchemy import text

    from api.auth.service import create_key
    from api.users.schemas import UserCreate
    from api.users.service import create_user, login

    if role == "worker":
        person = db.execute(text("SELECT id FROM person WHERE role = 'grid_worker' AND active ORDER BY id LIMIT 1")
                            ).scalar_one()
        create_user(db, body=UserCreate(username="fuzz-worker", password="fuzzing password", role="worker",
                                        person_id=person))
        raw, _ = login(db, username="fuzz-worker", password="fuzzing password", ttl_minutes=60, client_ip=None)
    else:
        _, raw = create_key(db, name=f"fuzz {role}", role=role)
    db.commit()
    return {"Authorization": f"Bearer {raw}"}


def _strategy(op: Any) -> st.SearchStrategy:
    modes = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        try:
            modes.append(op.as_strategy(generation_mode=mode))
        except Exception:  # an operation without parameters has no negative form
            continue
    return st.one_of(modes)


def _content_type(resp: Any) -> str:
    """Schemathesis' response keeps every header as a list of values."""
    for name, values in resp.headers.items():
        if name.lower() == "content-type":
            return values[0] if isinstance(values, list) else values
    return ""


def _describe(case: Any, resp: Any) -> str:
    try:
        curl = case.as_curl_command()
    except Exception:
        curl = f"{case.method} {case.formatted_path}"
    body = resp.content.decode("utf-8", "replace")[:400]
    return f"{resp.status_code} {_content_type(resp)} {body!r}\n  reproduce: {curl}"


def _documented_refusal(failure: Any, method: str, path: str, resp: Any) -> bool:
    """A schema-valid request refused with a 422 by an operation whose document lists rules no JSON schema can
    hold (``x-gridmap-rules``: bbox min < max, two different layouts, a date not in the past, ...). Anything
    else schemathesis finds is a failure."""
    from api.core.openapi import RULES

    op = SPEC["paths"][path][method.lower()]
    # GeoReport v2 answers a rule broken with 400 (it knows no 422); an upload's content type is a 415
    refusals = (400, 422) if path.startswith("/open311/") else (415, 422)
    return failure.title == "Schema-valid request rejected" and resp.status_code in refusals and bool(op.get(RULES))


@pytest.mark.parametrize(("method", "path", "role"), PAIRS, ids=[f"{m} {p} as {r}" for m, p, r in PAIRS])
def test_fuzz(method: str, path: str, role: str, fuzz_app: Any, db: Session) -> None:
    bind_savepoints(fuzz_app, db)
    headers = _credentials(db, role)
    op = OPERATIONS[(method, path)]
    n = EXAMPLES["heavy"] if any(h in path for h in HEAVY) else EXAMPLES["admin" if role == "admin" else "other"]
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if PROFILE == "long" else [])
    problems: list[str] = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None, phases=phases,
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    @given(case=_strategy(op))
    def run(case: Any) -> None:
        STATS["examples"] += 1
        try:
            resp = case.call(app=fuzz_app, headers=headers)
        except Exception as exc:  # the app answered 500 and re-raised (Starlette's ServerErrorMiddleware)
            STATS["statuses"][500] += 1
            STATS["server_errors"].append(f"{method} {path} as {role}: {type(exc).__name__}: {exc}")
            problems.append(f"5xx (raised {type(exc).__name__}: {exc}): {case.method} {case.formatted_path} "
                            f"query={case.query} body={getattr(case, 'body', None)!r}"[:1500])
            return
        try:
            case.validate_response(resp, checks=ALL_CHECKS, headers=headers, transport_kwargs={"app": fuzz_app})
        except FailureGroup as group:
            for failure in group.exceptions:
                if _documented_refusal(failure, method, path, resp):
                    STATS["documented_refusals"] += 1
                    continue
                STATS["check_failures"][f"{failure.title}: {method} {path}"] += 1
                problems.append(f"{failure.title}: {failure.message}"[:600] + "\n  " + _describe(case, resp))
        STATS["statuses"][resp.status_code] += 1
        STATS["by_operation"][f"{method} {path}"][resp.status_code] += 1
        if resp.status_code >= 500:
            STATS["server_errors"].append(f"{method} {path} as {role}: {resp.status_code}")
            problems.append("5xx: " + _describe(case, resp))
        elif resp.status_code >= 400:
            body = error_of(resp, path)  # problem+json, or GeoReport's error list on /open311
            if not (isinstance(body, dict) and body.get("code") and body.get("status") == resp.status_code):
                STATS["non_problem_errors"].append(f"{method} {path} as {role}: {resp.status_code}")
                problems.append("not problem+json: " + _describe(case, resp))

    run()
    STATS["operations"].add((method, path))
    STATS["pairs"] += 1
    assert not problems, "\n".join(dict.fromkeys(problems))


def teardown_module() -> None:
    out = os.environ.get("GRIDMAP_FUZZ_RESULTS")
    if not out or not STATS["pairs"]:
        return
    figures = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "profile": PROFILE,
        "operations_in_spec": len(OPERATIONS),
        "operations_fuzzed": len(STATS["operations"]),
        "operation_role_pairs": STATS["pairs"],
        "examples": STATS["examples"],
        "statuses": {str(k): v for k, v in sorted(STATS["statuses"].items())},
        "server_errors": len(STATS["server_errors"]),
        "server_error_list": STATS["server_errors"],
        "by_operation": {op: {str(k): v for k, v in sorted(c.items())}
                         for op, c in sorted(STATS["by_operation"].items())},
        "non_problem_errors": len(STATS["non_problem_errors"]),
        "check_failures": dict(sorted(STATS["check_failures"].items())),
        "documented_refusals": STATS["documented_refusals"],
        "excluded": [f"{m} {p}" for m, p in sorted(EXCLUDED)],
        "schemathesis": schemathesis.__version__,
    }
    Path(out).write_text(json.dumps(figures, indent=2) + "\n")

"""Injection strings through every text parameter the API takes: no 5xx, nothing dropped, stored verbatim.

The targets are read from the OpenAPI document (every string query and path parameter, every string field
of a JSON or form body) plus the inputs the document cannot describe (the Open311 form, the address
batch of POST /locate). Each gets SQL fragments, a NUL byte, a 10,000-character string and RTL/emoji
text, on top of a request that is otherwise valid (real ids, a real grid), so the string reaches the
queries rather than stopping at the first validation error. Afterwards every table is still there, the
reference tables are byte-for-byte the same (count + md5 of their rows) and no table lost rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.main import create_app
from tests.api.errors import error_of
from tests.api.harness import bind_savepoints

INJECTIONS = [
    "'; DROP TABLE grid; --",
    "%' OR '1'='1",
    "1) OR 1=1 --",
    "\\'; SELECT pg_sleep(5); --",
    "$$; DELETE FROM report; $$",
    "a\x00b",
    "x" * 10_000,
    "\u202e'; 删除 🔥👩\u200d👩\u200d👧 مرحبا",
    "%_\\",
]
#: Reference data no request in this test may change (md5 over the rows; the two big ones by count). Drafts
#: may be created (the planner copies layouts), so grids are frozen only where their layout is published.
FROZEN = {
    "street": "SELECT * FROM street",
    "community": "SELECT * FROM community",
    "category": "SELECT * FROM category",
    "published grids": "SELECT g.* FROM grid g JOIN grid_layout l ON l.id = g.layout_id WHERE l.status = 'published'",
}
BIG = ("building", "address")
#: Tables that requests may add to but must never lose rows from.
GROWING = ("report", "routing", "cases", "case_event", "person", "api_key", "app_user", "grid", "grid_layout")

SPEC = create_app().openapi()


def _schema(s: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in s:
        return SPEC["components"]["schemas"][s["$ref"].split("/")[-1]]
    return s


def _is_text(s: dict[str, Any] | None) -> bool:
    if not s:
        return False
    s = _schema(s)
    if s.get("type") == "string" and "enum" not in s and s.get("format") not in ("date-time", "date", "binary"):
        return True
    return any(_is_text(x) for x in s.get("anyOf", []))


def _targets() -> list[tuple[str, str, str, str]]:
    out = []
    for path, ops in SPEC["paths"].items():
        for method, op in ops.items():
            if (method, path) == ("get", "/api/v1/wall/stream"):
                continue  # an endless event stream; its only input, the ticket, is matched as digits first
            for p in op.get("parameters", []):
                if p["in"] in ("query", "path") and _is_text(p.get("schema")):
                    out.append((method.upper(), path, p["in"], p["name"]))
            for ctype, content in op.get("requestBody", {}).get("content", {}).items():
                kind = "json" if ctype == "application/json" else "form"
                for name, prop in _schema(content.get("schema", {})).get("properties", {}).items():
                    if _is_text(prop):
                        out.append((method.upper(), path, kind, name))
    # inputs outside the OpenAPI document (read from the raw request)
    for name in ("description", "address_string", "first_name", "last_name", "phone", "service_code", "email"):
        out.append(("POST", "/open311/v2/requests.json", "form", name))
    out.append(("POST", "/api/v1/locate", "json", "address"))
    out.append(("POST", "/api/v1/locate", "json", "addresses"))
    return out


TARGETS = _targets()


def test_every_text_input_is_a_target() -> None:
    names = {(m, p, n) for m, p, _, n in TARGETS}
    assert ("GET", "/api/v1/addresses/search", "q") in names
    assert ("POST", "/api/v1/reports", "description") in names
    assert ("GET", "/api/v1/grids/{code}", "code") in names
    assert len(TARGETS) >= 80


@pytest.fixture
def world(db: Session, make_case: Callable[..., int], grid_a: Any, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Real ids for every path parameter, so that the injected string is the only thing wrong."""
    from api.auth.service import create_key
    from api.users.schemas import UserCreate
    from api.users.service import create_user

    case = make_case(grid_a)
    other = make_case(grid_a)
    user_id = 1
    if "{user_id}" in (request.node.callspec.params.get("path", "") if hasattr(request.node, "callspec") else ""):
        user_id = create_user(db, body=UserCreate(username="inj-target", password="a long password",
                                                  role="planner")).id  # Argon2: only where a user is needed
    key, _ = create_key(db, name="inj target", role="planner")
    db.flush()
    report = db.execute(text("SELECT report_id FROM cases WHERE id = :c"), {"c": case}).scalar_one()
    category = db.execute(text("SELECT code FROM category ORDER BY code LIMIT 1")).scalar_one()
    address = db.execute(text("SELECT id FROM address ORDER BY id LIMIT 1")).scalar()
    return {
        "case_id": case, "other_case": other, "layout_id": grid_a.layout_id, "person_id": grid_a.worker_id,
        "user_id": user_id, "key_id": key.id, "report_id": report, "request_id": report, "target_id": 1,
        "review_id": 1, "address_id": address or 1, "code": grid_a.code, "service_code": category,
        "layer": "grids", "z": 14, "x": 13490, "y": 6205, "category": category, "lon": grid_a.lon,
        "lat": grid_a.lat, "community": grid_a.code[:12],
    }


def _base_body(method: str, path: str, w: dict[str, Any]) -> dict[str, Any]:
    """An otherwise valid body for each operation that takes one."""
    report = {"source": "hotline_12345", "category": w["category"], "lon": w["lon"], "lat": w["lat"],
              "crs": "wgs84", "description": "ok"}
    return {
        ("POST", "/api/v1/reports"): report,
        ("POST", "/api/v1/keys"): {"name": "ok", "role": "planner"},
        ("POST", "/api/v1/cases/{case_id}/transitions"): {"to": "registered", "note": "ok"},
        ("POST", "/api/v1/cases/{case_id}/assignee"): {"person_id": w["person_id"], "note": "ok"},
        ("POST", "/api/v1/cases/{case_id}/notes"): {"note": "ok"},
        ("POST", "/api/v1/cases/{case_id}/rating"): {"rating": 5, "note": "ok"},
        ("POST", "/api/v1/cases/{case_id}/merge"): {"into": w["other_case"], "note": "ok"},
        ("POST", "/api/v1/cases/{case_id}/whistles"): {"level": "community", "note": "ok"},
        ("POST", "/api/v1/whistles/targets/{target_id}/report"): {"note": "ok"},
        ("POST", "/api/v1/people"): {"name": "ok", "role": "volunteer", "community_code": w["community"]},
        ("PATCH", "/api/v1/people/{person_id}"): {"name": "ok"},
        ("POST", "/api/v1/users"): {"username": "inj-new", "password": "a long password", "role": "planner"},
        ("PATCH", "/api/v1/users/{user_id}"): {"display_name": "ok"},
        ("POST", "/api/v1/auth/token"): {"username": "nobody", "password": "wrong password"},
        ("POST", "/open311/v2/requests.json"): {"service_code": w["category"], "lat": w["lat"], "long": w["lon"],
                                                "description": "ok"},
        ("POST", "/api/v1/locate"): {"address": "东城区"},
    }.get((method, path), {})


def _fingerprint(db: Session) -> tuple[set[str], dict[str, tuple[int, str]], dict[str, int]]:
    tables = set(db.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
    frozen = {name: tuple(db.execute(text(
        f"SELECT count(*), md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), '')) FROM ({q}) t")).one())
        for name, q in FROZEN.items()}
    counts = {t: db.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in GROWING + BIG}
    return tables, frozen, counts


@pytest.fixture(scope="module")
def inj_app() -> Iterator[tuple[Any, TestClient]]:
    """One app and client for the module (no LISTEN thread: nothing is committed for a notice to tell)."""
    from api.core.config import get_settings

    conf = get_settings()
    was, conf.listen = conf.listen, False
    app = create_app()
    with TestClient(app, raise_server_exceptions=False) as c:
        yield app, c
    conf.listen = was


@pytest.fixture
def inj_client(db: Session, inj_app: tuple[Any, TestClient]) -> TestClient:
    app, client = inj_app
    bind_savepoints(app, db)
    return client


@pytest.mark.parametrize(("method", "path", "where", "name"), TARGETS,
                         ids=[f"{m} {p} {w}:{n}" for m, p, w, n in TARGETS])
def test_injection_strings_are_data(method: str, path: str, where: str, name: str, db: Session,
                                    inj_client: TestClient, world: dict[str, Any],
                                    make_key: Callable[[str], str]) -> None:
    key = make_key("admin")
    db.commit()
    before = _fingerprint(db)
    failures = []
    for value in INJECTIONS:
        url = path
        for param in re.findall(r"\{([^}]+)\}", path):
            fill = quote(value, safe="") if (where == "path" and param == name) else str(world.get(param, 1))
            url = url.replace("{" + param + "}", fill)
        params: dict[str, str] = {}
        body = dict(_base_body(method, path, world))
        if where == "query":
            params[name] = value
        elif where in ("json", "form"):
            body[name] = [value] if name == "addresses" else value
        headers = {"Authorization": f"Bearer {key}"}
        kwargs: dict[str, Any] = {"params": params, "headers": headers}
        if method in ("POST", "PATCH", "PUT"):
            kwargs["json" if where != "form" else "data"] = body
        resp = inj_client.request(method, url, **kwargs)
        ok = resp.status_code < 500 and (resp.status_code < 400 or bool((error_of(resp) or {}).get("code")))
        if not ok:
            failures.append(f"{value[:40]!r}: {resp.status_code} {resp.text[:300]}")
    after = _fingerprint(db)
    assert not failures, "\n".join(failures)
    assert after[0] == before[0], "a table disappeared"
    assert after[1] == before[1], "reference data changed"
    assert all(after[2][t] >= before[2][t] for t in GROWING), (before[2], after[2])
    assert all(after[2][t] == before[2][t] for t in BIG), (before[2], after[2])


def test_an_injected_report_text_is_stored_verbatim(inj_client: TestClient, db: Session, world: dict[str, Any],
                                                    make_key: Callable[[str], str]) -> None:
    headers = {"Authorization": f"Bearer {make_key('admin')}"}
    db.commit()
    for value in [v for v in INJECTIONS if "\x00" not in v and len(v) <= 500]:  # within the fields' limits
        body = _base_body("POST", "/api/v1/reports", world) | {"description": value, "address": value}
        resp = inj_client.post("/api/v1/reports", json=body, headers=headers)
        assert resp.status_code == 201, resp.text[:300]
        got = inj_client.get(f"/api/v1/reports/{resp.json()['id']}", headers=headers).json()
        assert got["description"] == value and got["address"] == value
    assert db.execute(text("SELECT count(*) FROM grid")).scalar_one() > 0

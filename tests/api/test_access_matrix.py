"""Every route × every caller: no credentials, a bad key, and a key of each role.

The routes come from the app itself (nested routers included); what each one should let through is the
declared table in tests/api/access_table.py. A route without a declaration fails here, so a new endpoint
cannot ship without someone deciding who may call it.

Refusals must be exactly 401 (who are you?) or 403 (not for your role), as problem+json with the code
``unauthorized`` / ``forbidden``; a let-through role must get past the gate (anything but 401/403, and
never a 5xx: the request carries no body and ids that exist nowhere, so a 404 or 422 is the usual answer).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from api.main import create_app
from tests.api.access_table import EXPECTED, ROLES, Access, app_routes

pytestmark = pytest.mark.usefixtures("quiet_app")

PROBLEM = "application/problem+json"
ROUTES = sorted(set(app_routes(create_app())))
BAD_KEY = "gm_" + "x" * 43  # shaped like a key, known to no database


def test_every_route_has_a_declared_expectation() -> None:
    missing = [f"{m} {p}" for m, p in ROUTES if (m, p) not in EXPECTED]
    stale = [f"{m} {p}" for m, p in EXPECTED if (m, p) not in ROUTES]
    assert not missing, f"declare who may call these routes in tests/api/access_table.py: {missing}"
    assert not stale, f"these declared routes no longer exist, remove them from tests/api/access_table.py: {stale}"
    assert len(ROUTES) >= 70  # the discovery itself works (nested routers are walked)


def _url(path: str) -> str:
    """Placeholders that exist nowhere: the gate is what is under test, not the (sometimes heavy) work behind it."""
    return re.sub(r"\{[^}]+\}", "987654321", path)


def _refused(resp: httpx.Response, status: int, code: str, who: str) -> None:
    assert resp.status_code == status, f"{who}: expected {status}, got {resp.status_code}: {resp.text[:300]}"
    if resp.url.path.startswith("/open311/"):  # GeoReport v2's error list (api/open311/formats.py)
        assert resp.headers["content-type"].startswith(("application/json", "text/xml")), who
        if resp.url.path.endswith(".json"):
            [err] = resp.json()
            assert (err["code"], err["gridmap_code"]) == (status, code), f"{who}: {resp.text[:300]}"
        return
    assert resp.headers["content-type"].startswith(PROBLEM), f"{who}: {resp.headers['content-type']}"
    assert resp.json()["code"] == code, f"{who}: {resp.text[:300]}"


def _call(client: httpx.Client, method: str, path: str, access: Access, key: str | None) -> httpx.Response:
    params: dict[str, str] = {}
    headers: dict[str, str] = {}
    if key is not None:
        if access.kind == "open311":
            params["api_key"] = key  # the GeoReport v2 way
        elif access.kind == "ticket":
            params["ticket"] = key
        else:
            headers["Authorization"] = f"Bearer {key}"
    return client.request(method, _url(path), params=params, headers=headers)


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_route_admits_exactly_its_declared_roles(
    method: str, path: str, client: httpx.Client, make_key: Callable[[str], str]
) -> None:
    access = EXPECTED.get((method, path))
    if access is None:
        pytest.fail(f"{method} {path} has no declared expectation in tests/api/access_table.py")

    anonymous = _call(client, method, path, access, None)
    bad = _call(client, method, path, access, BAD_KEY if access.kind != "ticket" else "1.9999999999.forged")
    if access.kind == "public":
        assert anonymous.status_code < 500 and anonymous.status_code not in (401, 403), anonymous.text[:300]
        return
    _refused(anonymous, 401, "unauthorized", "no credentials")
    _refused(bad, 401, "unauthorized", "a bad key")

    for role in ROLES:
        key = make_key(role)
        if access.kind == "ticket":
            # The event stream takes its short-lived ticket only: a key in a header is not a ticket.
            resp = client.request(method, _url(path), headers={"Authorization": f"Bearer {key}"})
            _refused(resp, 401, "unauthorized", f"{role} key without a ticket")
            continue
        resp = _call(client, method, path, access, key)
        if access.allows(role):
            assert resp.status_code not in (401, 403), f"{role} should pass: {resp.status_code} {resp.text[:300]}"
            assert resp.status_code < 500, f"{role}: {resp.status_code} {resp.text[:300]}"
        else:
            _refused(resp, 403, "forbidden", role)


def test_a_revoked_key_is_refused_everywhere_it_worked(client: httpx.Client, make_key: Callable[[str], str]) -> None:
    admin = {"Authorization": f"Bearer {make_key('admin')}"}
    victim = make_key("dispatcher")
    assert client.get("/api/v1/layouts", headers={"Authorization": f"Bearer {victim}"}).status_code == 200
    key_id = next(k["id"] for k in client.get("/api/v1/keys", headers=admin).json()["items"]
                  if victim.startswith(k["prefix"]) and k["revoked_at"] is None)
    assert client.delete(f"/api/v1/keys/{key_id}", headers=admin).status_code == 204
    for path in ("/api/v1/layouts", "/api/v1/cases", "/api/v1/wall/summary"):
        _refused(client.get(path, headers={"Authorization": f"Bearer {victim}"}), 401, "unauthorized", path)
    _refused(client.get("/open311/v2/requests.json", params={"api_key": victim}), 401, "unauthorized", "open311")


def test_an_intake_key_touches_no_grid_or_layout_route() -> None:
    """Intake systems post reports and read their status; grids and layouts are the planners' (issue 9).
    The matrix above holds the app to the table; this holds the table to the rule."""
    grid_routes = [(m, p) for m, p in ROUTES if re.search(r"/(grids|layouts|tiles)\b", p)]
    assert len(grid_routes) >= 15
    allowed = [f"{m} {p}" for m, p in grid_routes if EXPECTED[(m, p)].kind != "public"
               and EXPECTED[(m, p)].allows("intake")]
    assert not allowed, f"intake may call grid routes: {allowed}"

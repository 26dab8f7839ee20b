"""Every 5xx or non-problem error the fuzzer (tests/api/test_fuzz.py) or a review found, pinned as an
explicit request, so that a fix cannot quietly regress while the randomised search looks elsewhere."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.api.errors import error_of

pytestmark = pytest.mark.usefixtures("quiet_app")

PROBLEM = "application/problem+json"
HUGE = str(2**70)  # beyond PostgreSQL's bigint

CASES = [
    # found by the fuzzer: an empty bbox parsed as "no bbox", which the heatmap then dereferenced
    ("GET", "/api/v1/wall/heatmap?bbox=&zoom=12", 422),
    # ids and offsets past bigint reached PostgreSQL and came back as NumericValueOutOfRange (500)
    ("DELETE", f"/api/v1/keys/{HUGE}", 422),
    ("DELETE", "/api/v1/keys/-1", 422),  # ids are positive: say so, not "no such key"
    ("GET", f"/api/v1/layouts/{HUGE}", 422),
    ("GET", f"/api/v1/reports/{HUGE}", 422),
    ("GET", f"/api/v1/reports?offset={HUGE}", 422),
    ("GET", f"/api/v1/grids?offset={HUGE}", 422),
    ("GET", f"/api/v1/grids?layout={HUGE}", 422),
    ("GET", f"/api/v1/buildings?limit={HUGE}", 422),
    ("GET", f"/api/v1/addresses/{HUGE}", 422),
    ("GET", f"/api/v1/addresses/reviews?offset={HUGE}", 422),
    ("POST", f"/api/v1/addresses/reviews/{HUGE}", 422),
    ("GET", f"/api/v1/wall/cases/{HUGE}", 422),
    ("GET", f"/api/v1/wall/grids?layout={HUGE}", 422),
    ("GET", f"/api/v1/layouts/{HUGE}/coverage", 422),
    ("GET", f"/api/v1/locate?lon=116.4&lat=39.9&layout={HUGE}", 422),
    ("GET", f"/api/v1/tiles/grids/14/13490/6205.mvt?layout={HUGE}", 422),
    ("GET", f"/open311/v2/requests/{HUGE}.json", 400),  # GeoReport: an invalid parameter is a 400
    ("GET", f"/open311/v2/requests.json?service_request_id={HUGE}", 400),
    ("GET", f"/api/v1/audit?offset={HUGE}", 422),
]


@pytest.mark.parametrize(("method", "url", "status"), CASES, ids=[f"{m} {u}" for m, u, _ in CASES])
def test_found_errors_are_client_errors_now(method: str, url: str, status: int, client: httpx.Client,
                                            auth: Callable[[str], dict[str, str]]) -> None:
    headers = auth("admin")
    if url.startswith("/open311"):
        url += ("&" if "?" in url else "?") + "api_key=" + headers["Authorization"].split()[1]
    resp = client.request(method, url, headers=headers, json={} if method == "POST" else None)
    assert resp.status_code == status, resp.text[:500]
    body = error_of(resp)  # problem+json, or GeoReport's error list on /open311
    assert body and body["status"] == status and body["code"], resp.text[:300]


@pytest.mark.parametrize("query", ["radius_m=5e-324", "window_hours=5e-324", "radius_m=0.001"])
def test_denormal_duplicate_search_parameters_are_refused(query: str, client: httpx.Client, db,
                                                          auth: Callable[[str], dict[str, str]]) -> None:
    """Found by the long fuzz profile: a radius of 5e-324 m passed ``gt=0`` and PostgreSQL's float division
    underflowed (NumericValueOutOfRange, a 500). Now a floor (1 cm, 3.6 s) that means something."""
    from sqlalchemy import text

    case = db.execute(text("SELECT id FROM cases ORDER BY id LIMIT 1")).scalar_one()
    resp = client.get(f"/api/v1/cases/{case}/duplicates?{query}", headers=auth("admin"))
    assert resp.status_code == 422, resp.text[:500]
    assert resp.headers["content-type"].startswith(PROBLEM)
    assert query.split("=")[0] in resp.text

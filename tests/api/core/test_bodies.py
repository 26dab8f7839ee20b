"""Bodies whose syntax no parser should have to survive (issue 17 #3, #10): JSON nested thousands deep, form
posts in UTF-8 sent unescaped or in another declared charset, bytes that are no text at all."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.main import create_app

JSON_TYPES = ("application/json", "application/geo+json")
PROBLEM = "application/problem+json"
#: The probe's body: 2,000 nested objects, 12 KB.
DEEP = ('{"a":' * 2000 + "1" + "}" * 2000).encode()
DEEP_ARRAYS = b"[" * 5000 + b"]" * 5000


def _json_entry_points() -> list[tuple[str, str]]:
    """Every operation of the OpenAPI document that takes a JSON body, plus those reading it themselves."""
    doc = create_app().openapi()
    found = {(m.upper(), p) for p, ops in doc["paths"].items() for m, op in ops.items()
             if any(t in JSON_TYPES or t.endswith("+json") for t in op.get("requestBody", {}).get("content", {}))}
    found |= {("POST", "/open311/v2/requests.json"), ("POST", "/api/v1/locate")}
    assert len(found) >= 20
    return sorted(found)


def test_deep_json_is_a_cheap_400_at_every_json_entry_point(client: httpx.Client,
                                                            auth: Callable[[str], dict[str, str]]) -> None:
    headers = {**auth("admin"), "Content-Type": "application/json"}
    wrong = []
    for method, path in _json_entry_points():
        url = re.sub(r"\{[^}]+\}", "1", path)
        if path.startswith("/open311"):
            url += "?api_key=" + headers["Authorization"].split()[1]
        for body in (DEEP, DEEP_ARRAYS):
            resp = client.request(method, url, content=body, headers=headers)
            ok = (resp.status_code == 400 and resp.headers["content-type"].startswith(PROBLEM)
                  and resp.json()["code"] == "nesting_too_deep" and resp.json()["limit"] == 64)
            if not ok:
                wrong.append(f"{method} {path}: {resp.status_code} {resp.text[:200]}")
    assert not wrong, "\n".join(wrong)


def test_brackets_inside_strings_are_no_nesting(client: httpx.Client, auth: Callable[[str], dict[str, str]]) -> None:
    """The pre-scan skips strings: a description full of brackets is a report like any other."""
    resp = client.post("/api/v1/keys", json={"name": "[{" * 500, "role": "nope"}, headers=auth("admin"))
    assert resp.status_code == 422 and resp.json()["code"] == "validation_error", resp.text[:300]


def test_form_posts_survive_deep_looking_fields(client: httpx.Client, auth: Callable[[str], dict[str, str]]) -> None:
    key = auth("admin")["Authorization"].split()[1]
    form = {"api_key": key, "service_code": "E01001", "lat": "39.9245", "long": "116.4105",
            "description": DEEP.decode(), "attribute" + "[a]" * 2000: "x"}
    resp = client.post("/open311/v2/requests.json", data=form)
    assert resp.status_code < 500, resp.text[:300]


def _description(db: Session, resp: httpx.Response) -> str:
    assert resp.status_code == 201, resp.text[:300]
    rid = int(resp.json()[0]["service_request_id"])
    return db.execute(text("SELECT description FROM report WHERE id = :i"), {"i": rid}).scalar_one()


def test_raw_utf8_in_a_form_post_is_stored_as_utf8(client: httpx.Client, db: Session,
                                                   auth: Callable[[str], dict[str, str]]) -> None:
    """Issue 17 #10: ``description=垃圾堆积`` sent as raw UTF-8 bytes (curl --data-binary, many 311 gateways)
    used to be stored latin-1 decoded (``åå¾å ç§¯``)."""
    key = auth("admin")["Authorization"].split()[1]
    body = f"service_code=E01001&lat=39.9245&long=116.4105&description=垃圾堆积 a+b&api_key={key}".encode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert _description(db, client.post("/open311/v2/requests.json", content=body, headers=form)) == "垃圾堆积 a b"
    # Percent-escaped UTF-8 (what browsers and requests send) still works.
    escaped = body.replace("垃圾堆积".encode(), b"%E5%9E%83%E5%9C%BE%E5%A0%86%E7%A7%AF")
    assert _description(db, client.post("/open311/v2/requests.json", content=escaped, headers=form)) == "垃圾堆积 a b"
    # A declared charset is honoured.
    gbk = body.replace("垃圾堆积".encode(), "垃圾堆积".encode("gbk"))
    resp = client.post("/open311/v2/requests.json", content=gbk,
                       headers={"Content-Type": "application/x-www-form-urlencoded; charset=GBK"})
    assert _description(db, resp) == "垃圾堆积 a b"


@pytest.mark.parametrize(("payload", "ctype", "status", "code"), [
    (b"description=\xff\xfe", "application/x-www-form-urlencoded", 400, "invalid_encoding"),
    (b"description=%FF%FE", "application/x-www-form-urlencoded", 400, "invalid_encoding"),
    (b"description=x", "application/x-www-form-urlencoded; charset=klingon", 415, "unsupported_media_type"),
])
def test_undecodable_form_bytes_are_refused(payload: bytes, ctype: str, status: int, code: str,
                                            client: httpx.Client, auth: Callable[[str], dict[str, str]]) -> None:
    key = auth("admin")["Authorization"].split()[1]
    body = b"service_code=E01001&lat=39.9245&long=116.4105&" + payload
    resp = client.post(f"/open311/v2/requests.json?api_key={key}", content=body, headers={"Content-Type": ctype})
    assert resp.status_code == status, resp.text[:300]
    assert resp.headers["content-type"].startswith(PROBLEM) and resp.json()["code"] == code

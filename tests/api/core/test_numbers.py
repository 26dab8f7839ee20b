"""JSON booleans are not numbers anywhere in the API (issue 17 #12: ``"lon": true`` was stored as longitude 1.0).

The request bodies are read from the OpenAPI document, so a body model added later with a plain ``int`` or
``float`` (pydantic's lax mode takes ``true`` as 1) fails here: use ``api.core.params.Number``/``Integer``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.main import create_app


def _numeric_fields(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any], str, Any]]:
    """(method, path, base body, field, bad value) for every numeric property of every JSON body (one level, the
    variants of a tagged union each with its tag)."""
    comps = doc["components"]["schemas"]

    def resolve(s: dict[str, Any]) -> dict[str, Any]:
        return comps[s["$ref"].split("/")[-1]] if "$ref" in s else s

    def numeric(s: dict[str, Any]) -> bool:
        s = resolve(s)
        return s.get("type") in ("number", "integer") or any(numeric(x) for x in s.get("anyOf", []))

    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if not schema:
                continue
            schema = resolve(schema)
            for variant in [resolve(v) for v in schema.get("oneOf", [])] or [schema]:
                props = variant.get("properties", {})
                base = {k: p["const"] for k, p in props.items() if "const" in p}
                for name, prop in props.items():
                    prop = resolve(prop)
                    items = [resolve(x).get("items") for x in [prop, *prop.get("anyOf", [])] if resolve(x).get("items")]
                    if numeric(prop):
                        yield method.upper(), path, base, name, True
                    elif items and numeric(items[0]):
                        yield method.upper(), path, base, name, [True]


def test_no_request_body_takes_a_boolean_for_a_number(client: httpx.Client,
                                                      auth: Callable[[str], dict[str, str]]) -> None:
    cases = list(_numeric_fields(create_app().openapi()))
    assert len(cases) >= 25
    accepted = []
    for method, path, base, name, value in cases:
        resp = client.request(method, re.sub(r"\{[^}]+\}", "1", path), json={**base, name: value},
                              headers=auth("admin"))
        refusal = resp.json() if resp.headers["content-type"].startswith("application/problem+json") else {}
        said = [e for e in refusal.get("errors", []) if e["field"] == name or e["field"].startswith(f"{name}.")
                or e["field"].split(".")[-1] == name or f".{name}." in e["field"]]
        if resp.status_code != 422 or not said:
            accepted.append(f"{method} {path} {name}={value}: {resp.status_code} {resp.text[:200]}")
    assert not accepted, "\n".join(accepted)


def test_booleans_are_no_coordinates_in_reports_locate_and_open311(client: httpx.Client, db: Session,
                                                                   auth: Callable[[str], dict[str, str]]) -> None:
    admin = auth("admin")
    before = db.execute(text("SELECT count(*) FROM report")).scalar_one()
    report = {"source": "hotline_12345", "category": "E01001", "description": "x", "lon": True, "lat": 39.9245}
    resp = client.post("/api/v1/reports", json=report, headers=auth("intake"))
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "lon", resp.text
    for body in ({"points": [[True, 39.9245]]}, {"points": [[116.41, False]]},
                 {"type": "FeatureCollection", "features": [
                     {"type": "Feature", "geometry": {"type": "Point", "coordinates": [True, 39.9]}}]},
                 {"address": "东城区", "lon": True, "lat": 39.9}):
        resp = client.post("/api/v1/locate", json=body, headers=admin)
        assert resp.status_code == 422, (body, resp.text)
    key = admin["Authorization"].split()[1]
    resp = client.post(f"/open311/v2/requests.json?api_key={key}",
                       json={"service_code": "E01001", "lat": True, "long": 116.41, "description": "x"})
    assert resp.status_code == 400, resp.text  # GeoReport's status for an invalid parameter
    assert db.execute(text("SELECT count(*) FROM report")).scalar_one() == before

"""The bad-input corpus (tests/data/bad/, made by make_corpus.py) fed to every door a file or a point comes
in by: ``gridmap import`` (grids, buildings, addresses), the report intake, Open311 and the locate batch.

Each must be refused with a clear reason (a CLI error with exit code 2, or a 4xx problem+json naming the
row or item and what is wrong) and leave the database as it was: row counts and an md5 over the rows of the
tables the import or intake would write, taken before and after, from the committed state (the CLI runs
its own transaction, as in production).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.core.errors import ImportFailed
from tests.api.errors import error_of
from tests.data.bad.make_corpus import EXPECTED, EXPECTED_ADDRESSES

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
INTAKE_TABLES = ("report", "routing", "cases", "case_event", "address_review")


def checksum(conn: Any, tables: tuple[str, ...]) -> dict[str, tuple[int, str]]:
    out = {}
    for t in tables:
        exists = conn.execute(text("SELECT to_regclass(:t)"), {"t": t}).scalar()
        if exists is None:
            continue
        out[t] = tuple(conn.execute(text(
            f"SELECT count(*), md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), '')) FROM {t} t")
        ).one())
    return out


def test_the_corpus_is_complete() -> None:
    files = {p.name for p in BAD.iterdir() if p.suffix != ".py" and not p.name.startswith("_")}
    assert set(EXPECTED) | set(EXPECTED_ADDRESSES) <= files
    assert files - set(EXPECTED) - set(EXPECTED_ADDRESSES) == {"gbk_names_with_cpg.zip"}  # the good twin


@pytest.mark.parametrize("layer", ["grids", "buildings"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_importer_refuses_each_bad_file_by_row_and_reason(db: Session, name: str, layer: str) -> None:
    from api.imports.service import import_layer

    reason, row = EXPECTED[name]
    tables = ("grid", "grid_layout") if layer == "grids" else ("building",)
    before = checksum(db, tables)
    with pytest.raises(ImportFailed) as info, db.begin_nested():
        import_layer(db, layer=layer, path=BAD / name, code_field="code")
    err = info.value
    assert err.extra.get("reason") == reason, (err.extra, err.detail)
    if row is not None:
        assert err.extra.get("row") == row and f"row {row}" in err.detail, err.detail
    assert name.split(".")[0] in err.detail or f"row {row}" in err.detail or name in err.detail, err.detail
    assert checksum(db, tables) == before


@pytest.fixture
def committed(engine: Engine) -> Iterator[Callable[..., dict[str, tuple[int, str]]]]:
    """The committed state of the tables an import writes (the CLI commits through its own engine)."""
    def snap(tables: tuple[str, ...] = ("grid", "grid_layout")) -> dict[str, tuple[int, str]]:
        with engine.connect() as conn:
            return checksum(conn, tables)

    yield snap


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_gridmap_import_exits_2_names_the_row_and_commits_nothing(
        name: str, committed: Callable[[], dict[str, tuple[int, str]]]) -> None:
    from api.cli import app

    reason, row = EXPECTED[name]
    before = committed()
    result = CliRunner().invoke(app, ["import", "grids", str(BAD / name)])
    assert result.exit_code == 2, result.output
    out = re.sub(r"\s+", " ", result.output)
    assert "nothing was imported" in out
    if row is not None:
        assert f"row {row}" in out, out
    assert committed() == before


@pytest.mark.parametrize("name", sorted(EXPECTED_ADDRESSES))
def test_the_address_import_refuses_each_bad_file(name: str, committed: Callable[[], dict[str, tuple[int, str]]],
                                                  db: Session) -> None:
    from api.addresses.service import import_addresses
    from api.cli import app

    with pytest.raises(ImportFailed) as info, db.begin_nested():
        import_addresses(db, path=BAD / name)
    assert info.value.extra.get("reason") == EXPECTED_ADDRESSES[name], info.value.detail
    before = committed(("address", "address_alias"))
    result = CliRunner().invoke(app, ["import", "addresses", str(BAD / name)])
    assert result.exit_code == 2 and "nothing was imported" in result.output, result.output
    assert committed(("address", "address_alias")) == before


def test_gbk_names_with_a_cpg_are_decoded_not_mangled(db: Session) -> None:
    from api.imports.service import import_layer

    res = import_layer(db, layer="grids", path=BAD / "gbk_names_with_cpg.zip", layout="gbk")
    assert res.rows_imported == 1
    name = db.execute(text("SELECT name FROM grid WHERE layout_id = :l"), {"l": res.layout_id}).scalar_one()
    assert name == "东城区和平里街道第一网格"


# --------------------------------------------------------------------------------------------
# Intake: reports, Open311, the locate batch



def _problem(resp: httpx.Response, *statuses: int) -> dict:
    assert resp.status_code in statuses, (resp.status_code, resp.text[:300])
    body = error_of(resp)  # problem+json, or GeoReport's error list on /open311
    assert body and body["code"] and body["detail"], resp.text[:300]
    return body


@pytest.mark.usefixtures("quiet_app")
def test_bad_points_are_refused_at_intake_and_nothing_is_stored(
        client: httpx.Client, db: Session, auth: Callable[[str], dict[str, str]], grid_a: Any) -> None:
    intake = auth("intake")
    key = intake["Authorization"].split()[1]
    before = checksum(db, INTAKE_TABLES)
    cat = db.execute(text("SELECT code FROM category ORDER BY code LIMIT 1")).scalar_one()
    base = {"source": "hotline_12345", "category": cat, "crs": "wgs84", "description": "bad point"}
    cases = {
        "swapped": ({"lon": grid_a.lat, "lat": grid_a.lon}, "latitude"),
        "out of range": ({"lon": 500, "lat": 39.9}, "not a longitude/latitude"),
        "NaN": ({"lon": float("nan"), "lat": 39.9}, "finite"),
        "Infinity": ({"lon": float("inf"), "lat": 39.9}, "finite"),
        "wrong CRS": ({"lon": 116.4, "lat": 39.9, "crs": "EPSG:4527"}, "EPSG:4527"),
        "unknown CRS": ({"lon": 116.4, "lat": 39.9, "crs": "EPSG:999999"}, "unknown CRS"),
    }
    for label, (extra, says) in cases.items():
        body = json.dumps(base | extra, allow_nan=True)
        resp = client.post("/api/v1/reports", content=body, headers={**intake, "content-type": "application/json"})
        assert says in _problem(resp, 400, 422)["detail"], (label, resp.text)
    for form, says in (({"lat": "NaN", "long": "116.4"}, "finite"), ({"lat": "abc", "long": "116.4"}, "lat"),
                       ({"lat": "39.9", "long": "999"}, "not a longitude/latitude"),
                       ({"lat": str(grid_a.lon), "long": str(grid_a.lat)}, "latitude")):
        resp = client.post("/open311/v2/requests.json", data={"api_key": key, "service_code": cat, **form})
        assert says in _problem(resp, 400, 422)["detail"], (form, resp.text)
    for raw, says in (('{"crs": "wgs84", "points": [[116.4, 39.9], [116', "not valid JSON"),
                      ('{"points": [[116.4, 39.9], [NaN, 39.9]]}', "not valid JSON"),
                      ('{"points": [[116.4, 39.9], [116.4, 95]]}', "points[1]"),
                      ('{"points": [[116.4, 39.9], ["a", 1]]}', "points[1]"),
                      ('{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": '
                       '{"type": "Polygon", "coordinates": []}}]}', "features[0]")):
        resp = client.post("/api/v1/locate", content=raw, headers={**intake, "content-type": "application/json"})
        assert says in _problem(resp, 400, 422)["detail"], (raw[:60], resp.text)
    # oversize: refused before it is read (413), whichever door
    from api.core.config import get_settings

    huge = b" " * (get_settings().max_body_bytes + 1)
    for path in ("/api/v1/reports", "/api/v1/locate", "/open311/v2/requests.json"):
        resp = client.post(path, content=huge, headers={**intake, "content-type": "application/json"})
        assert _problem(resp, 413)["code"] == "payload_too_large"
    db.expire_all()
    assert checksum(db, INTAKE_TABLES) == before


@pytest.mark.usefixtures("quiet_app")
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_planner_upload_refuses_each_bad_file(name: str, client: httpx.Client, db: Session,
                                                   auth: Callable[[str], dict[str, str]]) -> None:
    """The planner's multipart ``POST /api/v1/layouts`` runs the same importer: the same refusals, as 4xx."""
    reason, row = EXPECTED[name]
    before = checksum(db, ("grid", "grid_layout"))
    resp = client.post("/api/v1/layouts", headers=auth("planner"), data={"name": f"bad {name}"},
                       files={"file": (name, (BAD / name).read_bytes())})
    body = _problem(resp, 400, 413, 422)
    assert body.get("reason") == reason, body
    if row is not None:
        assert body.get("row") == row and f"row {row}" in body["detail"], body
    db.expire_all()
    assert checksum(db, ("grid", "grid_layout")) == before

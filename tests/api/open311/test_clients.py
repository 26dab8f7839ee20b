"""Issue 17, defect 9's acceptance: the two PyPI Open311 clients, unchanged, against a real gridmap server.

* ``georeport`` 0.3.1 (requests + xmltodict, JSON and XML modes). It sends no key on reads, so with reads keyed
  (the default) it gets a 401 unless the key comes from a ``.netrc`` (requests reads one; gridmap takes the key as
  the Basic password), and against a city that publishes (``GRIDMAP_OPEN311_PUBLIC_READ``) it reads without one.
* ``open311`` 1.1 (Code for America's wrapper) is Python 2 code (implicit relative imports, ``getchildren``,
  ``urlopen(url, str)``): it cannot be imported by any Python 3. It runs here, as shipped (the package pip installed
  in .venv), on a Python 2.7 when the machine has one (pyenv's, or ``GRIDMAP_TEST_PYTHON2``); else that test is
  skipped, saying so. Its JSON mode expects ``{"service_requests": {"request": …}}``, which is not GeoReport's
  JSON (a plain list), so it is exercised in XML, its default.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests.conftest import ROOT, TEST_URL


@pytest.fixture(scope="module")
def keys(engine: Engine) -> dict[str, str]:
    """Committed keys (the live server is another process)."""
    from api.auth.service import create_key

    with Session(engine) as s:
        made = {role: create_key(s, name=f"open311 clients {role}", role=role)[1] for role in ("intake", "admin")}
        made["other"] = create_key(s, name="open311 clients another system", role="intake")[1]
        s.commit()
    return made


@pytest.fixture(scope="module")
def spot(engine: Engine) -> tuple[float, float]:
    with engine.connect() as c:
        return tuple(c.execute(text("""SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(boundary) p FROM grid g
            JOIN grid_layout l ON l.id = g.layout_id WHERE l.status = 'published' ORDER BY code LIMIT 1 OFFSET 5) t
        """)).one())


@pytest.fixture(scope="module")
def public_server(engine: Engine) -> Iterator[str]:
    """A second live server, for a city that publishes its 311 data."""
    from api.devtools.server import LiveServer

    with LiveServer(TEST_URL, log_path=ROOT / ".data" / "live-server-open311-public.log", timeout=60,
                    env={"GRIDMAP_OPEN311_PUBLIC_READ": "true"}) as server:
        yield server.base


def post(base: str, key: str, spot: tuple[float, float], description: str) -> str:
    resp = httpx.post(f"{base}/open311/v2/requests.json", data={
        "api_key": key, "service_code": "E01002", "lat": str(spot[1]), "long": str(spot[0]),
        "description": description, "phone": "13911112222", "first_name": "明", "last_name": "李"}, timeout=30)
    assert resp.status_code == 201, resp.text
    return resp.json()[0]["service_request_id"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_reads_services_and_its_own_requests(live_server: str, keys, spot, fmt: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from georeport import GeoReport

    mine = post(live_server, keys["intake"], spot, f"georeport {fmt} 垃圾")
    theirs = post(live_server, keys["other"], spot, f"another system {fmt}")
    client = GeoReport(f"{live_server}/open311/v2", api_key=keys["intake"], output_format=fmt)
    services = client.get_service_list()
    assert "E01002" in {s["service_code"] for s in services}
    assert client.get_service_definition("E01002")["service_code"] == "E01002"
    with pytest.raises(requests.HTTPError) as refused:  # reads are keyed, and georeport sends no key on them
        client.get_service_requests()
    assert refused.value.response.status_code == 401
    # The key from a .netrc, as requests reads it: the same client, unchanged, now reads with the key.
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login intake password {keys['intake']}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    listed = client.get_service_requests(service_code="E01002,E01001", status="open,closed")
    listed = listed if isinstance(listed, list) else [listed]  # xmltodict: one element is a dict
    assert mine in {r["service_request_id"] for r in listed} and theirs not in {r["service_request_id"] for r in listed}
    one = client.get_service_request(mine)
    assert one["service_request_id"] == mine and one["description"] == f"georeport {fmt} 垃圾"
    with pytest.raises(requests.HTTPError) as hidden:
        client.get_service_request(theirs)
    assert hidden.value.response.status_code == 404


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_reads_a_publishing_city_without_a_key(public_server: str, keys, spot, fmt: str) -> None:
    from georeport import GeoReport

    rid = post(public_server, keys["intake"], spot, "李明家门口 13911112222")
    client = GeoReport(f"{public_server}/open311/v2", output_format=fmt)
    listed = client.get_service_requests(service_code="E01002", status="open")
    listed = listed if isinstance(listed, list) else [listed]
    assert rid in {r["service_request_id"] for r in listed}
    one = client.get_service_request(rid)
    assert one["service_code"] == "E01002" and not one["description"] and not one["media_url"]
    assert abs(float(one["lat"]) - round(spot[1], 3)) < 1e-9 and float(one["lat"]) != spot[1]
    assert "13911112222" not in json.dumps(listed, ensure_ascii=False)


def python2() -> str | None:
    """A Python 2.7 interpreter, if this machine has one."""
    candidates = [os.environ.get("GRIDMAP_TEST_PYTHON2", "")]
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(f"{root}/versions/2.7*/bin/python2.7"), reverse=True)
    candidates += [shutil.which("python2.7") or ""]
    for exe in filter(None, candidates):
        try:
            if subprocess.run([exe, "-c", "import sys; assert sys.version_info[:2] == (2, 7)"],
                              capture_output=True, timeout=30).returncode == 0:
                return exe
        except OSError:
            continue
    return None


OPEN311_SCRIPT = textwrap.dedent("""
    # -*- coding: utf-8 -*-
    import json, sys
    from open311 import Open311
    base, key, lon, lat = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    out = {}
    o = Open311(endpoint=base, format="xml", api_key=key)
    out["services"] = [s["service_code"] for s in o.service_list()]
    out["definition"] = o.service_definition("E01002")["service_definition"]["service_code"]
    posted = o.post_service_request(service_code="E01002", lat=lat, long=lon, description="open311 client 井盖")
    rid = posted["service_requests"]["request"]["service_request_id"]
    out["posted"] = rid
    listed = o.service_requests(api_key=key, service_code="E01002,E01001", status="open")
    listed = listed if isinstance(listed, list) else [listed]
    out["listed"] = [r["service_request_id"] for r in listed]
    try:
        o.get_service_request(rid)  # the client sends no key here
        out["single"] = "read"
    except Exception as exc:
        out["single"] = getattr(exc, "code", repr(exc))
    try:
        o.post_service_request(service_code="E01002", description="no place")
    except Exception as exc:
        out["refused"] = [getattr(exc, "code", None), exc.read()]
    print(json.dumps(out))
""")


def test_the_open311_client_as_shipped_on_python_2(live_server: str, keys, spot, tmp_path: Path) -> None:
    exe = python2()
    if exe is None:
        pytest.skip("open311 1.1 is Python 2 code and this machine has no Python 2.7 (set GRIDMAP_TEST_PYTHON2)")
    spec = importlib.util.find_spec("open311")  # the package pip installed from pyproject's pin, unchanged
    assert spec is not None and spec.origin is not None, "pip install -e '.[dev]' installs open311==1.1"
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "open311").symlink_to(Path(spec.origin).parent)
    script = tmp_path / "client.py"
    script.write_text(OPEN311_SCRIPT)
    theirs = post(live_server, keys["other"], spot, "another system, py2 test")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(tmp_path / "lib"), "PYTHONDONTWRITEBYTECODE": "1",
           "no_proxy": "*"}
    run = subprocess.run([exe, str(script), f"{live_server}/open311/v2", keys["intake"], str(spot[0]), str(spot[1])],
                         capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert "E01002" in out["services"] and out["definition"] == "E01002"
    assert out["posted"] in out["listed"] and theirs not in out["listed"]
    code, body = out["refused"]  # a refused post: GeoReport's XML error list, with the HTTP status
    assert code == 422 and "<errors><error><code>422</code><description>" in body
    assert out["single"] == 401  # reads are keyed, and this call of the client cannot send one

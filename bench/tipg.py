"""/ogc side by side with tipg (issue 23): the same PostGIS tables served by both, in the same run, over HTTP.

tipg (PyPI, the OGC API Features/Tiles server for PostGIS) runs from its own virtualenv, ``.venv-tipg``, made by
bench/tipg_env.sh with every package pinned (its fastapi and pydantic pins are not ours). Both servers are one
uvicorn process on loopback against the bench database; requests alternate between them so that the shared
machine's load hits both alike, and every request says ``Accept-Encoding: identity`` (tipg compresses otherwise,
gridmap does not: the figure would be gzip's).

tipg reads tables and views of the schemas it is given; the bench makes its own schema ``tipg_bench`` (here, not in
a migration) with two views over the same rows /ogc serves:

- ``tipg_bench.buildings``: the buildings collection's id and properties (read from api/ogc/collections.py), and
  the footprint;
- ``tipg_bench.grids``: the grids of the layout in force (api.grids.service.layout_in_force) with the properties
  of the API's grid tiles (api/tiles/service.py), and the boundary.

Measures:

- ``ogc_items_10k_vs_tipg``: the first 10,000 buildings (``limit=10000``), and ``ogc_items_walk_vs_tipg``: every
  building, following ``next`` links at 10,000 a page (gridmap's are keyset cursors, tipg's offsets);
- ``ogc_items_10_vs_tipg``, ``ogc_item_vs_tipg``: a 10-feature page and one feature (the fixed cost of a request);
- ``ogc_tiles_cold_vs_tipg`` / ``ogc_tiles_warm_vs_tipg``: every z14-16 WebMercatorQuad tile over the grids in
  force, tipg's tile endpoint vs gridmap's own MVT endpoint (``/api/v1/tiles/grids/{z}/{x}/{y}.mvt``), gridmap
  cold (its tile cache emptied by ``NOTIFY gridmap_tiles`` before each round) and warm (the same tiles again);
- ``ogc_paging_deep``: gridmap alone, the cost of a deep page (the last full one of the buildings at 100 a page) by the
  keyset cursor its links carry vs by ``offset``, each beside page 1.
"""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import orjson
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.core.config import ROOT, get_settings

SCHEMA = "tipg_bench"
VENV = ROOT / ".venv-tipg"
ZOOMS = (14, 15, 16)
PAGE = 10_000
NO_GZIP = {"Accept-Encoding": "identity"}
#: The properties of the API's grid tiles (api/tiles/service.py LAYERS["grids"]): tipg's tiles carry the same.
TILE_PROPS = ("code", "name", "name_en", "community_code", "households", "population")


def tipg_ready() -> str | None:
    """None when .venv-tipg holds tipg (made now by bench/tipg_env.sh if need be), else why not."""
    try:
        run = subprocess.run([str(ROOT / "bench" / "tipg_env.sh")], capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bench/tipg_env.sh failed: {exc}"
    if run.returncode != 0:
        lines = [ln for ln in run.stderr.splitlines() if ln.strip() and "WARNING: Location" not in ln]
        return "bench/tipg_env.sh could not install tipg: " + " / ".join(lines[-3:])
    return None


def make_views(url: str) -> int:
    """Schema ``tipg_bench`` with the views tipg serves; the layout in force's id."""
    from api.core.db import make_engine
    from api.grids.service import layout_in_force
    from api.ogc.collections import STATIC

    b = STATIC["buildings"]
    cols = ", ".join(f"{p.sql} AS {p.name}" for p in b.props)
    engine = make_engine(get_settings(), url=url, pool_size=1)
    with Session(engine) as s:
        layout = layout_in_force(s)
        s.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        s.execute(text(f"CREATE OR REPLACE VIEW {SCHEMA}.buildings AS "
                       f"SELECT {b.id_sql} AS id, {cols}, {b.geom_sql} AS footprint {b.from_sql}"))
        s.execute(text(f"CREATE OR REPLACE VIEW {SCHEMA}.grids AS SELECT {', '.join(TILE_PROPS)}, boundary "
                       f"FROM grid WHERE layout_id = {int(layout)}"))
        s.commit()
    engine.dispose()
    return layout


class Tipg:
    """``uvicorn tipg.main:app`` from .venv-tipg on a free loopback port, reading schema ``tipg_bench``."""

    def __init__(self, url: str) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        env = {**os.environ, "DATABASE_URL": dsn, "TIPG_DB_SCHEMAS": json.dumps([SCHEMA]),
               "TIPG_MAX_FEATURES_PER_QUERY": str(PAGE),
               "TIPG_TABLE_CONFIG": json.dumps({f"{SCHEMA}_grids": {"pk": "code"},
                                                f"{SCHEMA}_buildings": {"pk": "id"}})}
        self.log = open(Path(tempfile.gettempdir()) / "gridmap-bench-tipg.log", "w")
        self.proc = subprocess.Popen(
            [str(VENV / "bin" / "python"), "-m", "uvicorn", "tipg.main:app", "--host", "127.0.0.1", "--port",
             str(port), "--no-access-log", "--log-level", "warning"],
            cwd=tempfile.gettempdir(), env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                ids = [c["id"] for c in httpx.get(f"{self.base}/collections", timeout=5).json()["collections"]]
                if {f"{SCHEMA}.buildings", f"{SCHEMA}.grids"} <= set(ids):
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"tipg did not start; see {self.log.name}")
            time.sleep(0.3)

    def version(self) -> str:
        out = subprocess.run([str(VENV / "bin" / "python"), "-c", "import tipg; print(tipg.__version__)"],
                             capture_output=True, text=True)
        return out.stdout.strip()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def _get(client: httpx.Client, url: str) -> httpx.Response:
    r = client.get(url)
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return r


def _walk(client: httpx.Client, first: str) -> list:
    """Every feature id, following next links from ``first``."""
    ids, url = [], first
    while url:
        page = orjson.loads(_get(client, url).content)
        ids += [f["id"] for f in page["features"]]
        url = next((lk["href"] for lk in page["links"] if lk["rel"] == "next"), None)
    return ids


#: A next link as both servers write it (orjson, keys in this order)
NEXT = re.compile(rb'\{"href":"([^"]+)","rel":"next"')


def _pages(client: httpx.Client, first: str) -> int:
    """Follow the next links from ``first`` without parsing the features: parsing 10,000 GeoJSON features in
    Python took the client 0.1-2 s a page (its garbage collector over millions of coordinate lists), which would
    swamp both servers' times; the timed walk reads only the link."""
    pages, url = 0, first
    while url:
        body = _get(client, url).content
        pages += 1
        found = NEXT.search(body)
        url = found.group(1).decode() if found else None
    return pages


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _common(machine_load: str, tipg_version: str) -> str:
    return (f"one uvicorn process each on loopback, Accept-Encoding: identity, requests alternating; tipg "
            f"{tipg_version} from .venv-tipg on views of schema {SCHEMA}; load average {machine_load}")


def _servers(url: str):
    from bench.routing import Server, _key

    key = _key(url, "viewer")
    return Server(url), key


def tipg_side_by_side(url: str, repeat: int) -> list[dict]:
    """Buildings items at 10,000 a page and grid tiles z14-16, gridmap vs tipg on the same tables."""
    import morecantile

    from bench.common import interleaved
    from bench.routing import _load

    reason = tipg_ready()
    if reason is not None:
        print(f"  skipped: {reason}")
        return []
    layout = make_views(url)
    tipg = Tipg(url)
    server, key = _servers(url)
    ours = httpx.Client(base_url=server.base, headers={**NO_GZIP, "Authorization": f"Bearer {key}"}, timeout=120)
    base = httpx.Client(base_url=tipg.base, headers=NO_GZIP, timeout=120)
    version = tipg.version()
    out: list[dict] = []
    try:
        # --- items: the first 10,000 buildings, then every building page by page ---------------------------
        g_url = f"/ogc/collections/buildings/items?limit={PAGE}"
        t_url = f"/collections/{SCHEMA}.buildings/items?limit={PAGE}"
        g_page, t_page = _get(ours, g_url).json(), _get(base, t_url).json()
        assert g_page["numberMatched"] == t_page["numberMatched"], (g_page["numberMatched"], t_page["numberMatched"])
        assert [f["id"] for f in g_page["features"]] == [f["id"] for f in t_page["features"]]
        sizes = len(_get(ours, g_url).content), len(_get(base, t_url).content)
        a, b = interleaved(lambda: _get(ours, g_url), lambda: _get(base, t_url), repeat)
        n = len(g_page["features"])
        note = _common(_load(), version)
        out.append({"name": "ogc_items_10k_vs_tipg", "value": round(a * 1000, 1), "unit": "ms",
                    "baseline": round(b * 1000, 1), "baseline_name": f"tipg {version} /collections/…/items",
                    "ratio": round(b / a, 2), "n": n,
                    "note": f"GET …/buildings/items?limit={PAGE}: {n} of {g_page['numberMatched']} features, the same "
                            f"ids in the same order; bodies {sizes[0]:,} vs {sizes[1]:,} bytes (gridmap writes "
                            f"7 decimals, tipg 15); median of {repeat}; {note}"})
        # small answers, where the fixed cost of a request shows: a 10-feature page and one feature
        for name, g_small, t_small in (
                ("ogc_items_10_vs_tipg", "/ogc/collections/buildings/items?limit=10",
                 f"/collections/{SCHEMA}.buildings/items?limit=10"),
                ("ogc_item_vs_tipg", f"/ogc/collections/buildings/items/{g_page['features'][-1]['id']}",
                 f"/collections/{SCHEMA}.buildings/items/{g_page['features'][-1]['id']}")):
            assert _get(ours, g_small).json()["type"] == _get(base, t_small).json()["type"]
            a, b = interleaved(lambda g=g_small: _get(ours, g), lambda t=t_small: _get(base, t), repeat * 5)
            out.append({"name": name, "value": round(a * 1000, 2), "unit": "ms", "baseline": round(b * 1000, 2),
                        "baseline_name": f"tipg {version}", "ratio": round(b / a, 2), "n": 1,
                        "note": f"GET {g_small} vs {t_small}; median of {repeat * 5}; {_common(_load(), version)}"})
        g_ids, t_ids = _walk(ours, g_url), _walk(base, t_url)
        assert g_ids == t_ids and len(g_ids) == g_page["numberMatched"]
        pages = _pages(ours, g_url)
        assert pages == _pages(base, t_url) == -(-len(g_ids) // PAGE), pages
        a, b = interleaved(lambda: _pages(ours, g_url), lambda: _pages(base, t_url), max(3, repeat // 2))
        out.append({"name": "ogc_items_walk_vs_tipg", "value": round(a * 1000, 1), "unit": "ms",
                    "baseline": round(b * 1000, 1), "baseline_name": f"tipg {version}, its offset next links",
                    "ratio": round(b / a, 2), "n": len(g_ids),
                    "note": f"every building ({len(g_ids)}, {pages} pages) by following next links at {PAGE} a page "
                            f"(gridmap: keyset cursors; tipg: offsets; the timed walk reads only the links, the "
                            f"features were compared in an untimed one); median; {note}"})

        # --- grid tiles z14-16 over the grids in force -------------------------------------------------------
        tms = morecantile.tms.get("WebMercatorQuad")
        from api.core.db import make_engine

        engine = make_engine(get_settings(), url=url, pool_size=1)
        with engine.connect() as c:
            w, s, e, nn = c.execute(text("SELECT ST_XMin(x), ST_YMin(x), ST_XMax(x), ST_YMax(x) FROM "
                                         "(SELECT ST_Extent(boundary) x FROM grid WHERE layout_id = :l) q"),
                                    {"l": layout}).one()
        tiles = list(tms.tiles(w, s, e, nn, list(ZOOMS)))
        g_tile = "/api/v1/tiles/grids/{z}/{x}/{y}.mvt"
        t_tile = f"/collections/{SCHEMA}.grids/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}"
        non_empty = [0, 0]
        size = [0, 0]
        for t in tiles:  # warm PostgreSQL's buffers and both servers' connections; count what each draws
            for i, (cl, tpl) in enumerate(((ours, g_tile), (base, t_tile))):
                body = _get(cl, tpl.format(z=t.z, x=t.x, y=t.y)).content
                non_empty[i] += bool(body)
                size[i] += len(body)
        assert non_empty[0] == non_empty[1] > 0, non_empty
        cold, warm, theirs = [], [], []
        for _ in range(repeat):
            with engine.connect() as c:  # empty gridmap's tile cache (its LISTEN thread drops every tile)
                c.execute(text("NOTIFY gridmap_tiles"))
                c.commit()
            time.sleep(0.5)
            tc = tw = tt = 0.0
            for t in tiles:
                tt += _timed(lambda t=t: _get(base, t_tile.format(z=t.z, x=t.x, y=t.y)))
                tc += _timed(lambda t=t: _get(ours, g_tile.format(z=t.z, x=t.x, y=t.y)))
            for t in tiles:
                tw += _timed(lambda t=t: _get(ours, g_tile.format(z=t.z, x=t.x, y=t.y)))
            cold.append(tc / len(tiles))
            warm.append(tw / len(tiles))
            theirs.append(tt / len(tiles))
        engine.dispose()
        t_ms = statistics.median(theirs) * 1000
        note = (f"{len(tiles)} tiles z{ZOOMS[0]}-{ZOOMS[-1]} over the grids in force ({non_empty[0]} with features; "
                f"{size[0]:,} vs {size[1]:,} bytes in all), mean per tile, median of {repeat} rounds; "
                f"{_common(_load(), version)}")
        for name, mine, how in (("ogc_tiles_cold_vs_tipg", cold, "cold: tile cache emptied before each round"),
                                ("ogc_tiles_warm_vs_tipg", warm, "warm: the same tiles again")):
            m_ms = statistics.median(mine) * 1000
            out.append({"name": name, "value": round(m_ms, 2), "unit": "ms/tile", "baseline": round(t_ms, 2),
                        "baseline_name": f"tipg {version} /collections/…/tiles/WebMercatorQuad/z/x/y",
                        "ratio": round(t_ms / m_ms, 2), "n": len(tiles),
                        "note": f"GET /api/v1/tiles/grids/z/x/y.mvt, {how}; {note}"})

        # --- paging: a deep page by keyset cursor vs by offset -------------------------------------------------
        out.append(_paging(ours, g_ids, repeat))
    finally:
        ours.close()
        base.close()
        server.close()
        tipg.close()
    return out


def _paging(ours: httpx.Client, ids: list[int], repeat: int) -> dict:
    """The last full page of buildings at 100 a page, by the cursor a next link carries vs by offset; page 1 beside.
    ``ids``: every building's id in the collection's order."""
    from api.ogc.service import Cursor, encode_cursor
    from bench.routing import _load

    limit, matched = 100, len(ids)
    deep = (matched // limit - 1) * limit  # the last full page
    by_offset = f"/ogc/collections/buildings/items?limit={limit}&offset={deep}"
    by_cursor = f"/ogc/collections/buildings/items?limit={limit}&cursor={encode_cursor(Cursor(ids[deep - 1]))}"
    first = f"/ogc/collections/buildings/items?limit={limit}"
    assert _get(ours, by_offset).json()["features"] == _get(ours, by_cursor).json()["features"]
    times: dict[str, list[float]] = {first: [], by_cursor: [], by_offset: []}
    for _ in range(repeat * 3):  # the three in turn, so that the machine's load hits each alike
        for u, got in times.items():
            got.append(_timed(lambda u=u: _get(ours, u)))
    p1, a, b = (statistics.median(times[u]) for u in (first, by_cursor, by_offset))
    return {"name": "ogc_paging_deep", "value": round(a * 1000, 2), "unit": "ms", "baseline": round(b * 1000, 2),
            "baseline_name": f"the same page by offset={deep}", "ratio": round(b / a, 2), "n": matched,
            "note": f"gridmap /ogc buildings, the last full page at {limit} a page ({deep + 1}-{deep + limit}) "
                    f"by the keyset cursor of a next link vs by offset; page 1 {p1 * 1000:.2f} ms (deep/page 1: cursor "
                    f"{a / p1:.2f}, offset {b / p1:.2f}); numberMatched is counted on every page either way; median "
                    f"of {repeat * 3}, one uvicorn process on loopback; load average {_load()}"}


BENCHES = {"tipg": tipg_side_by_side}

"""The sample district's standard address registry, derived from its buildings at load time.

Deterministic: it depends only on the loaded buildings, facilities and the seed. Every building gets
its door plate (门牌: "北京市东城区<胡同/路><N>号") or estate building number ("<小区><N>号楼"), with
street and community from where it stands; every unit of a residential block gets its own address
("…<N>号楼<U>单元"). Aliases are what callers also say: the landmarks in a building (its school,
clinic, market, police station), "<X>条胡同" for the numbered hutongs (东四十条胡同), and, for a seeded
third of the estates, a common name ("安德里家园" is also "安德里小区") when no other estate has it.
The main-road centre lines of the generator (``sample_data/generate.py``: ROADS) go into ``road``.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.addresses.normalize import normalize
from api.core.config import ROOT
from api.core.pgload import copy_rows

SEED = 20261122
CITY = "北京市"
DISTRICT = "东城区"
_DOOR = re.compile(r"^(?P<name>.+?)(?P<n>[0-9]+)号$")
_BLDG = re.compile(r"^(?P<name>.+?)(?P<n>[0-9]+)号楼$")
_ESTATE_SUFFIXES = ("小区", "北里", "南里", "东里", "西里", "家园", "苑", "新村", "中街")


@lru_cache(maxsize=1)
def sample_roads() -> list[tuple[str, float, float, float, float]]:
    """The main roads of the sample generator (its ``ROADS`` literal, read without importing it):
    (name, lon0, lat0, lon1, lat1)."""
    tree = ast.parse((ROOT / "sample_data" / "generate.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "ROADS" for t in node.targets):
            return [(r[0], float(r[1]), float(r[2]), float(r[3]), float(r[4])) for r in ast.literal_eval(node.value)]
    raise LookupError("sample_data/generate.py has no ROADS")


def split_address(address: str) -> dict:
    """A sample building address to registry fields.

    >>> split_address("北京市东城区史家胡同12号")
    {'road': '史家胡同', 'door_number': '12', 'estate': None, 'building_no': None}
    >>> split_address("安德里家园13号楼")
    {'road': None, 'door_number': None, 'estate': '安德里家园', 'building_no': '13'}
    """
    local = address.removeprefix(CITY + DISTRICT)
    m = _BLDG.match(local)
    if m:
        return {"road": None, "door_number": None, "estate": m["name"], "building_no": m["n"]}
    m = _DOOR.match(local)
    if m:
        return {"road": m["name"], "door_number": m["n"], "estate": None, "building_no": None}
    return {"road": None, "door_number": None, "estate": local, "building_no": None}


def build_rows(buildings: list, facilities: dict[int, list[str]], seed: int = SEED) -> list[dict]:
    """Registry rows (building level, then units) for ``buildings``: rows of (id, code, address, kind, units,
    street, community, lon, lat)."""
    rng = np.random.default_rng(seed)
    estates = sorted({split_address(b.address)["estate"] for b in buildings if b.address} - {None})
    common: dict[str, str] = {}
    taken = set(estates)
    for e in estates:
        draw = rng.random()
        for suf in _ESTATE_SUFFIXES:
            if e.endswith(suf) and suf != "小区" and draw < 1 / 3:
                alias = e[: -len(suf)] + "小区"
                if alias not in taken:
                    common[e] = alias
                    taken.add(alias)
                break
    rows: list[dict] = []
    for b in buildings:
        if not b.address:
            continue
        parts = split_address(b.address)
        local = b.address.removeprefix(CITY + DISTRICT)
        aliases: list[str] = []
        if parts["road"] and parts["road"].endswith("条"):
            aliases.append(f"{parts['road']}胡同{parts['door_number']}号")
        if parts["estate"] in common:
            aliases.append(f"{common[parts['estate']]}{parts['building_no']}号楼")
        aliases += facilities.get(b.id, [])
        base = {"building_id": b.id, "district": DISTRICT, "street": b.street, "community": b.community,
                **parts, "lon": b.lon, "lat": b.lat}
        rows.append({**base, "code": b.code, "kind": "building", "unit": None,
                     "full_text": CITY + DISTRICT + local, "normalized": normalize(local),
                     "aliases": [normalize(a) for a in aliases]})
        if b.kind == "residential" and parts["building_no"]:
            for u in range(1, (b.units or 1) + 1):
                rows.append({**base, "code": f"{b.code}-{u:02d}", "kind": "unit", "unit": str(u),
                             "full_text": f"{CITY}{DISTRICT}{local}{u}单元", "normalized": normalize(f"{local}{u}单元"),
                             "aliases": []})
    return rows


COLUMNS = ["code", "kind", "building_id", "district", "street", "community", "road", "door_number", "estate",
           "building_no", "unit", "full_text", "normalized", "aliases", "location"]


def copy_registry(session: Session, rows: list[dict]) -> int:
    def ewkt(r: dict) -> str | None:
        return None if r["lon"] is None else f"SRID=4326;POINT({r['lon']:.7f} {r['lat']:.7f})"

    copy_rows(session, "address", COLUMNS,
               [tuple(r.get(c) for c in COLUMNS[:-1]) + (ewkt(r),) for r in rows], None)
    return len(rows)


def load_sample_registry(session: Session) -> dict[str, int]:
    """Build the sample registry and roads inside the caller's transaction (called by ``load_sample``)."""
    buildings = session.execute(text("""
        SELECT b.id, b.code, b.address, b.kind, b.units, s.name AS street, c.name AS community,
               ST_X(p.g) AS lon, ST_Y(p.g) AS lat
        FROM building b
        CROSS JOIN LATERAL (SELECT ST_PointOnSurface(b.footprint) AS g) p
        LEFT JOIN LATERAL (SELECT code, name, street_code FROM community c
                           WHERE ST_Covers(c.boundary, p.g) ORDER BY code LIMIT 1) c ON true
        LEFT JOIN street s ON s.code = c.street_code
        ORDER BY b.code""")).all()
    facilities: dict[int, list[str]] = {}
    for f in session.execute(text("""
            SELECT b.id, f.name FROM facility f JOIN building b ON b.address = f.address ORDER BY f.code""")):
        facilities.setdefault(f.id, []).append(f.name)
    n = copy_registry(session, build_rows(buildings, facilities))
    for name, x0, y0, x1, y1 in sample_roads():
        session.execute(text("""
            INSERT INTO road (name, geom) VALUES (:n, ST_Multi(ST_SetSRID(ST_MakeLine(
                ST_MakePoint(:x0, :y0), ST_MakePoint(:x1, :y1)), 4326)))
            ON CONFLICT (name) DO NOTHING"""), {"n": name, "x0": x0, "y0": y0, "x1": x1, "y1": y1})
    return {"address": n, "road": len(sample_roads())}

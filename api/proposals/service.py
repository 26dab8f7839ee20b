"""Proposed grid layouts of a community in a draft (issue 20), and applying one as a single undoable edit.

Proposals are not stored: a proposal's id names everything it is computed from (community, norm, region count,
seed, and the draft revision it was made against), and ``geo.regions`` is deterministic, so applying recomputes
the same layout. A draft edited since the proposal refuses it (409 ``revision_conflict``), like any stale edit.
Applying goes through the planner's edit log (``api.planner.service``): the community's grids before and after
are recorded as one ``apply_proposal`` edit, which the existing undo reverts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.cases.workflow import OPEN_STATUSES
from api.core.config import Settings
from api.core.errors import InvalidParameter, LayoutNotDraft, NotFound
from api.planner.service import (
    GridRow,
    _answer,
    _record,
    check_inside_community,
    load_rows,
    lock_layout,
    write_rows,
)
from api.proposals.schemas import ProposalsIn
from geo import regions

HISTORY_MONTHS = 12
_ID = re.compile(r"^(\d{9}|\d{12})-(\d{1,6})-(\d{1,6})-(\d{1,3})-(\d{1,2})-r(\d{1,9})$")


@dataclass
class Community:
    code: str
    name: str
    name_en: str | None
    boundary: Any
    footprints: np.ndarray
    households: np.ndarray
    population: np.ndarray
    old: dict[str, GridRow]
    roads: np.ndarray


def _load(session: Session, layout_id: int, community: str) -> Community:
    row = session.execute(text("SELECT code, name, name_en, ST_AsBinary(boundary) AS wkb FROM community "
                               "WHERE code = :c"), {"c": community}).first()
    if row is None:
        raise NotFound(f"no community {community}", field="community")
    b = session.execute(text("""
        SELECT ST_AsBinary(b.footprint) AS wkb, b.households, b.population FROM building b, community c
        WHERE c.code = :c AND ST_Covers(c.boundary, b.rep_point) ORDER BY b.id"""), {"c": community}).all()
    codes = list(session.execute(text("""
        SELECT code FROM grid WHERE layout_id = :l AND (community_code = :c OR left(code, 12) = :c)
        ORDER BY code"""), {"l": layout_id, "c": community}).scalars())
    roads = session.execute(text("""
        SELECT ST_AsBinary(ST_Intersection(r.geom, c.boundary)) FROM road r, community c
        WHERE c.code = :c AND r.geom && c.boundary AND ST_Intersects(r.geom, c.boundary)"""),
                            {"c": community}).scalars().all()
    return Community(row.code, row.name, row.name_en, shapely.from_wkb(bytes(row.wkb)),
                     np.array([shapely.from_wkb(bytes(r.wkb)) for r in b], dtype=object),
                     np.array([r.households for r in b], dtype=np.int64),
                     np.array([r.population for r in b], dtype=np.int64), load_rows(session, layout_id, codes),
                     np.array([shapely.from_wkb(bytes(w)) for w in roads], dtype=object))


def _communities(session: Session, code: str) -> list[str]:
    """The communities a proposal is for: the one named, or every community of a 9-digit street code."""
    if len(code) == 12:
        return [code]
    found = list(session.execute(text("SELECT code FROM community WHERE street_code = :s ORDER BY code"),
                                 {"s": code}).scalars())
    if not found:
        raise NotFound(f"no street {code} with communities", field="community")
    return found


def _draft_revision(session: Session, layout_id: int) -> int:
    row = session.execute(text("SELECT status, revision FROM grid_layout WHERE id = :id"), {"id": layout_id}).first()
    if row is None:
        raise NotFound(f"no grid layout with id {layout_id}", field="layout_id")
    if row.status != "draft":
        raise LayoutNotDraft(f"layout {layout_id} is {row.status}; proposals are made for drafts",
                             layout_status=row.status)
    return int(row.revision)


def _points(session: Session, community: str, sql_filter: str, params: dict[str, Any]) -> np.ndarray:
    rows = session.execute(text(f"""
        SELECT ST_AsBinary(r.location) FROM report r JOIN community c ON c.code = :c
        WHERE r.location IS NOT NULL AND r.location && c.boundary AND ST_Covers(c.boundary, r.location)
          AND {sql_filter}"""), {"c": community, **params}).scalars().all()
    return np.array([shapely.from_wkb(bytes(w)) for w in rows], dtype=object)


def _layout(c: Community, hh_min: int, hh_max: int, n: int, seed: int) -> regions.Layout:
    lay = regions.propose(c.boundary, c.footprints, c.households, hh_min, hh_max, n_regions=n, seed=seed)
    old = list(c.old.values())
    return regions.assign_codes(lay, c.code, [g.code for g in old], [g.geom for g in old])


def _features(c: Community, lay: regions.Layout) -> dict[str, Any]:
    n_b = np.bincount(lay.labels[lay.labels >= 0], minlength=len(lay.polygons))
    feats = []
    for i, (code, geom) in enumerate(zip(lay.codes, lay.polygons, strict=True)):
        name = c.old[code].name if lay.kept[i] else f"{c.name}第{int(code[12:])}网格"
        feats.append({"type": "Feature", "id": code, "geometry": shapely.geometry.mapping(geom), "properties": {
            "code": code, "name": name, "households": int(lay.households[i]), "buildings": int(n_b[i]),
            "kept_code": lay.kept[i], "oversize": lay.oversize[i]}})
    return {"type": "FeatureCollection", "features": feats}


def _scores_kw(session: Session, c: Community) -> dict[str, Any]:
    old = list(c.old.values())
    cases = _points(session, c.code, f"r.received_at > now() - interval '{HISTORY_MONTHS} months'", {})
    open_pts = _points(session, c.code, "EXISTS (SELECT 1 FROM cases k WHERE k.report_id = r.id "
                                        "AND k.status = ANY(:open))", {"open": list(OPEN_STATUSES)})
    return {"footprints": c.footprints, "households": c.households, "old_codes": [g.code for g in old],
            "old_polygons": [g.geom for g in old], "case_points": cases, "open_points": open_pts,
            "months": float(HISTORY_MONTHS), "roads": c.roads}


def _joined(parts: list[tuple[regions.Layout, dict[str, Any]]]) -> tuple[regions.Layout, dict[str, Any]]:
    """Several communities' layouts and score inputs as one (a street's), so that one score covers them all."""
    if len(parts) == 1:
        return parts[0]
    lays, kws = [p[0] for p in parts], [p[1] for p in parts]
    offset = np.cumsum([0] + [len(lay.polygons) for lay in lays[:-1]])
    lay = regions.Layout([g for lay in lays for g in lay.polygons],
                         np.concatenate([np.where(lay.labels >= 0, lay.labels + o, -1) for lay, o in
                                         zip(lays, offset, strict=True)]),
                         np.concatenate([lay.households for lay in lays]),
                         codes=[c for lay in lays for c in lay.codes], kept=[k for lay in lays for k in lay.kept],
                         oversize=[o for lay in lays for o in lay.oversize])
    kw: dict[str, Any] = {"months": kws[0]["months"]}
    for key in ("footprints", "households", "case_points", "open_points", "roads"):
        arrays = [np.asarray(k[key], dtype=object if key != "households" else np.int64) for k in kws]
        kw[key] = np.concatenate(arrays) if arrays else np.array([])
    kw["old_codes"] = [c for k in kws for c in k["old_codes"]]
    kw["old_polygons"] = [g for k in kws for g in k["old_polygons"]]
    return lay, kw


def proposals(session: Session, *, layout_id: int, body: ProposalsIn) -> dict[str, Any]:
    """``body.alternatives`` proposed layouts of the community (or of every community of a street), each with its
    grids and scores, and the naive baseline's scores (k-means + clipped Voronoi) for comparison."""
    rev = _draft_revision(session, layout_id)
    comms = [_load(session, layout_id, code) for code in _communities(session, body.community)]
    kws = [_scores_kw(session, c) for c in comms]
    street = len(body.community) == 9
    alts: list[list[tuple[regions.Layout, dict[str, Any]]]] = [[] for _ in range(body.alternatives)]
    ns: list[int] = []
    feats: list[list[dict[str, Any]]] = [[] for _ in range(body.alternatives)]
    bases, currents = [], []
    for c, kw in zip(comms, kws, strict=True):
        params = regions.alternative_params(c.households, body.households_min, body.households_max,
                                            body.alternatives)
        ns.append(params[0][0])
        for k, (n, seed) in enumerate(params):
            lay = _layout(c, body.households_min, body.households_max, n, seed)
            alts[k].append((lay, kw))
            feats[k] += _features(c, lay)["features"]
        if len(c.footprints):
            bl = regions.baseline(c.boundary, c.footprints, c.households, params[0][0])
            bl.codes = [f"{c.code}{i + 1:03d}" for i in range(len(bl.polygons))]
            bases.append((bl, kw))
        old = list(c.old.values())
        if old:
            currents.append((regions.Layout([g.geom for g in old], np.zeros(0, dtype=np.int64),
                                            np.array([g.households for g in old]), codes=[g.code for g in old]), kw))
    out = []
    for k in range(body.alternatives):
        n, seed = (0, k) if street else regions.alternative_params(comms[0].households, body.households_min,
                                                                   body.households_max, body.alternatives)[k]
        lay, kw = _joined(alts[k])
        out.append({"id": f"{body.community}-{body.households_min}-{body.households_max}-{n}-{seed}-r{rev}",
                    "grids": {"type": "FeatureCollection", "features": feats[k]}, "scores": regions.scores(lay, **kw)})
    return {"layout_id": layout_id, "revision": rev, "community": body.community,
            "communities": [c.code for c in comms],
            "norm": [body.households_min, body.households_max], "history_months": HISTORY_MONTHS,
            "proposals": out, "baseline": _score(bases), "current": _score(currents)}


def _score(parts: list[tuple[regions.Layout, dict[str, Any]]]) -> dict[str, Any] | None:
    if not parts:
        return None
    lay, kw = _joined(parts)
    return regions.scores(lay, **kw)


def apply(session: Session, *, layout_id: int, proposal_id: str, actor: str, settings: Settings) -> dict[str, Any]:
    """Write a proposal into the draft as one edit (``apply_proposal``): the community's grids are replaced by
    the proposal's; a kept code keeps its name and staff, a new grid starts without staff."""
    m = _ID.match(proposal_id)
    if m is None:
        raise InvalidParameter(f"{proposal_id!r} is not a proposal id", field="proposal_id")
    code, hh_min, hh_max, n, seed, rev = m.group(1), *map(int, m.groups()[1:])
    street = len(code) == 9
    if hh_min > hh_max or (n < 1 and not street) or (street and (n != 0 or seed > 5)):
        raise InvalidParameter(f"{proposal_id!r} is not a proposal id", field="proposal_id")
    lock_layout(session, layout_id, base_revision=rev)
    before: list[GridRow] = []
    after: list[GridRow] = []
    for community in _communities(session, code):
        c = _load(session, layout_id, community)
        cn, cs = regions.alternative_params(c.households, hh_min, hh_max, seed + 1)[seed] if street else (n, seed)
        before += list(c.old.values())
        after += _rows(c, _layout(c, hh_min, hh_max, cn, cs))
    check_inside_community(session, after, settings)
    write_rows(session, layout_id, [r.code for r in before], after)
    edit = _record(session, layout_id=layout_id, op="apply_proposal", params={"proposal": proposal_id},
                   before=before, after=after, actor=actor)
    return _answer(session, layout_id, edit, before, after)


def _rows(c: Community, lay: regions.Layout) -> list[GridRow]:
    """The grid rows of a community's proposed layout: a kept code keeps its name and staff."""
    pop = np.bincount(lay.labels[lay.labels >= 0], weights=c.population[lay.labels >= 0],
                      minlength=len(lay.polygons))
    after = []
    for i, (code, geom) in enumerate(zip(lay.codes, lay.polygons, strict=True)):
        props: dict[str, Any] = dict(c.old[code].properties) if lay.kept[i] else {"staff": []}
        props.pop("oversize", None)
        if lay.oversize[i]:
            props["oversize"] = True  # one building above the norm's maximum: a grid of its own
        seq = int(code[12:])
        after.append(GridRow(
            code, c.old[code].name if lay.kept[i] else f"{c.name}第{seq}网格",
            c.old[code].name_en if lay.kept[i] else (f"{c.name_en} Grid {seq}" if c.name_en else None),
            c.code, int(lay.households[i]), int(pop[i]), props, geom))
    return after

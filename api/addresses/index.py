"""The in-memory address index: hotline text → ranked registry candidates, in well under a millisecond.

PostGIS holds the registry (and can answer the same question with pg_trgm, see ``service.search_postgis``);
this is a cache of it, rebuilt when ``address_registry.version`` moves (statement triggers, migration
0005). The registry is small in the way that matters: a district has 100,000+ addresses but only a
thousand or two *names* (roads, hutongs, estates, landmarks). So a query is parsed into a name and
numbers (``normalize.parse``), the name is matched typo-tolerantly against the name vocabulary (exact,
then a shortlist of names sharing characters, bigrams or pinyin syllable pairs, scored by edit distance over
characters and over syllables, whichever is higher: 东四石条 sounds like 东四十条), and the numbers are looked up
exactly under each candidate name. Numbers are never fuzzed: 3号楼 is not 8号楼. Numbers inside names are
(东四10条 is 东四十条: ``normalize.fold_name_numerals``). ``typed=False`` builds the index as it was before
those two (the benchmark's baseline in the same run).

Scores are in 0..1: the name's similarity, times small factors for a door number used as a building
number (or the reverse), a unit the building does not have, or a street/community that disagrees. A
match is *confident* when the best score is at least ``MATCH_MIN`` and beats the runner-up (another
building) by ``MARGIN``; otherwise the answer is *ambiguous* with its top candidates, or *not_found*.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.addresses.normalize import (
    DEFAULT_DISTRICTS,
    HOMOPHONE,
    NAME_FILLERS,
    Parsed,
    bigrams,
    name_similarity,
    normalize,
    parse,
    sound_similarity,
    syllables,
)

MATCH_MIN = 0.6
MARGIN = 0.1
#: a name must be at least this alike to be considered at all
NAME_MIN = 0.5
MAX_NAMES = 12
#: names scored by edit distance per query
SHORTLIST = 60


@dataclass(slots=True)
class Entry:
    id: int
    code: str | None
    kind: str
    building_id: int | None
    building_code: str | None
    full_text: str
    name: str
    number: str | None
    number_kind: str | None  # door | building
    unit: str | None
    street: str | None
    community: str | None
    lon: float | None
    lat: float | None
    #: position in ``AddressIndex.entries``
    pos: int = -1


@dataclass(slots=True)
class Candidate:
    entry: Entry
    score: float
    matched: dict

    def as_dict(self) -> dict:
        e = self.entry
        return {"id": e.id, "code": e.code, "kind": e.kind, "full_text": e.full_text, "score": round(self.score, 3),
                "matched": self.matched, "building_id": e.building_id, "building_code": e.building_code,
                "street": e.street, "community": e.community,
                "point": {"lon": e.lon, "lat": e.lat} if e.lon is not None else None}


@dataclass(slots=True)
class Resolution:
    query: str
    normalized: str
    parsed: Parsed
    status: str  # matched | ambiguous | not_found
    candidates: list[Candidate]
    reason: str | None = None
    #: for an intersection: the point where the two roads cross
    intersection: dict | None = None

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.status == "matched" and self.candidates else None


@dataclass
class AddressIndex:
    version: int
    entries: list[Entry] = field(default_factory=list)
    #: (name, number) -> building-level entry indexes
    by_name_number: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    #: name -> building-level entry indexes (for a name without a number)
    by_name: dict[str, list[int]] = field(default_factory=dict)
    #: building-level entry index -> {unit: unit entry index}
    units: dict[int, dict[str, int]] = field(default_factory=dict)
    #: whole normalised alias (landmark, old name) -> building-level entry indexes
    aliases: dict[str, list[int]] = field(default_factory=dict)
    #: alias name (its name part) -> canonical name, for aliases of the name+number form
    name_gram: dict[str, set[str]] = field(default_factory=dict)
    roads: dict[str, shapely.Geometry] = field(default_factory=dict)
    districts: tuple[str, ...] = DEFAULT_DISTRICTS
    streets: tuple[str, ...] = ()
    communities: tuple[str, ...] = ()
    #: numerals inside names folded and names matched by sound too (see the module docstring)
    typed: bool = True

    # -------------------------------------------------------------------------------- building

    @classmethod
    def from_rows(cls, rows: Iterable, *, version: int = 0, roads: Iterable = (), districts: Iterable[str] = (),
                  streets: Iterable[str] = (), communities: Iterable[str] = (), typed: bool = True) -> AddressIndex:
        """Rows with: id, code, kind, building_id, building_code, full_text, road, door_number, estate,
        building_no, unit, street, community, aliases, lon, lat."""
        idx = cls(version=version, districts=tuple(districts) or DEFAULT_DISTRICTS, streets=tuple(streets),
                  communities=tuple(communities), typed=typed)
        by_building: dict[int, int] = {}
        pending_units: list[Entry] = []
        nn: dict[tuple[str, str], list[int]] = defaultdict(list)
        bn: dict[str, list[int]] = defaultdict(list)
        al: dict[str, list[int]] = defaultdict(list)
        memo: dict[str, str] = {}

        def norm(v: str) -> str:
            out = memo.get(v)
            if out is None:
                out = memo[v] = normalize(v, idx.districts, typed=typed)
            return out

        for r in rows:
            if r.estate and r.building_no:
                name, number, nk = r.estate, r.building_no, "building"
            elif r.road and r.door_number:
                name, number, nk = r.road, r.door_number, "door"
            else:
                name, number, nk = (r.estate or r.road or normalize(r.full_text)), None, None
            name = norm(name)
            e = Entry(id=r.id, code=r.code, kind=r.kind, building_id=r.building_id, building_code=r.building_code,
                      full_text=r.full_text, name=name, number=number, number_kind=nk, unit=r.unit,
                      street=r.street, community=r.community, lon=r.lon, lat=r.lat)
            if r.kind in ("unit", "room") and r.unit:
                pending_units.append(e)
                continue
            i = e.pos = len(idx.entries)
            idx.entries.append(e)
            if r.building_id is not None:
                by_building.setdefault(r.building_id, i)
            if number is not None:
                nn[(name, number)].append(i)
            bn[name].append(i)
            for a in r.aliases or ():
                al[norm(a)].append(i)
        for e in pending_units:
            parent = by_building.get(e.building_id) if e.building_id is not None else None
            if parent is None:
                continue
            units = idx.units.setdefault(parent, {})
            i = e.pos = len(idx.entries)
            idx.entries.append(e)
            if e.kind == "unit":
                units[e.unit] = i
        # an alias like "东四十条胡同12号" also teaches the name "东四十条胡同" for numbers under it
        for a, ids in list(al.items()):
            p = parse(a, idx.districts, typed=typed)
            num = p.building or p.door
            if p.name and num and not p.unit:
                for i in ids:
                    if p.name != idx.entries[i].name:
                        nn[(p.name, num)].append(i)
                        bn[p.name].append(i)
        idx.by_name_number, idx.by_name, idx.aliases = dict(nn), dict(bn), dict(al)
        grams: dict[str, set[str]] = defaultdict(set)
        for name in idx.by_name:
            for g in bigrams(name):
                grams[g].add(name)
            for ch in name:
                grams[ch].add(name)
            if typed:  # pairs of syllables: a homophone typo shares none of its characters' bigrams
                sy = syllables(name)
                for k in range(len(sy) - 1):
                    grams["\0" + sy[k] + " " + sy[k + 1]].add(name)
        idx.name_gram = dict(grams)
        for name, geom in roads:
            idx.roads[normalize(name, idx.districts)] = geom
        return idx

    # ------------------------------------------------------------------------------- matching

    def names_for(self, q: str) -> list[tuple[str, float, str]]:
        """Candidate names for the name part of a query: (name, similarity, how)."""
        if not q:
            return []
        if q in self.by_name:
            return [(q, 1.0, "exact")]
        for f in NAME_FILLERS:
            if q.endswith(f) and q[: -len(f)] in self.by_name:
                return [(q[: -len(f)], 0.98, "exact_without_filler")]
        # shortlist: names sharing the most characters and bigrams with the query, then edit distance on those
        shortlist: dict[str, int] = defaultdict(int)
        for g in bigrams(q):
            for n in self.name_gram.get(g, ()):
                shortlist[n] += 2
        for ch in set(q):
            for n in self.name_gram.get(ch, ()):
                shortlist[n] += 1
        if self.typed:
            sy = syllables(q)
            for k in range(len(sy) - 1):
                for n in self.name_gram.get("\0" + sy[k] + " " + sy[k + 1], ()):
                    shortlist[n] += 2
        # the best SHORTLIST of them (a partial sort: a common character like 里 shortlists hundreds of names)
        best = heapq.nsmallest(SHORTLIST, shortlist.items(), key=lambda kv: (-kv[1], kv[0]))
        out = []
        for n, _ in best:
            s = name_similarity(q, n)
            how = "contains" if n in q else "fuzzy"
            if self.typed and s < HOMOPHONE:  # (a sound match scores at most HOMOPHONE)
                heard = sound_similarity(q, n)
                if heard > s:
                    s, how = heard, "sound"
            for f in NAME_FILLERS:  # "和平力北里小区": compare without the filler too
                if q.endswith(f):
                    s = max(s, name_similarity(q[: -len(f)], n) * 0.98)
            if s >= NAME_MIN:
                out.append((n, s, how))
        out.sort(key=lambda t: (-t[1], t[0]))
        return out[:MAX_NAMES]

    def resolve(self, query: str, *, limit: int = 5) -> Resolution:
        p = parse(query, self.districts, self.streets, self.communities, typed=self.typed)
        norm = normalize(query, self.districts, typed=self.typed)
        if p.roads:
            return self._intersection(query, norm, p)
        cands: list[Candidate] = []
        for key in (norm, p.name):
            for i in self.aliases.get(key, ()):
                cands.append(Candidate(self.entries[i], 1.0, {"alias": key}))
        if cands:
            return self._decide(query, norm, p, self._units(cands, p), limit)
        number = p.building or p.door or p.number
        names = self.names_for(p.name)
        if not names:
            return Resolution(query, norm, p, "not_found", [], reason="unknown_name")
        if number is None:
            for n, s, how in names[:3]:
                for i in self.by_name.get(n, [])[:limit]:
                    cands.append(Candidate(self.entries[i], s * 0.5, {"name": how, "number": "missing"}))
            cands.sort(key=lambda c: -c.score)
            return Resolution(query, norm, p, "ambiguous" if cands else "not_found", cands[:limit],
                              reason="no_number")
        # "…131号院3号楼": the building number first; the compound's door number when no building has it
        tries = [(k, v) for k, v in (("building", p.building), ("door", p.door), (None, p.number)) if v]
        for attempt, (asked_kind, number) in enumerate(tries):
            self._numbered(cands, names, p, asked_kind, number, 0.9 if attempt else 1.0)
            if cands:
                break
        if not cands:
            return Resolution(query, norm, p, "not_found", [], reason="no_such_number")
        return self._decide(query, norm, p, self._units(cands, p), limit)

    def _numbered(self, cands: list[Candidate], names: list[tuple[str, float, str]], p: Parsed,
                  asked_kind: str | None, number: str, factor: float) -> None:
        for n, s, how in names:
            for i in self.by_name_number.get((n, number), ()):
                e = self.entries[i]
                if p.door and p.building and e.number_kind and asked_kind != e.number_kind:
                    continue  # "131号院3号楼": 3 is a building number here, not a door number
                f = factor
                matched = {"name": how, "number": number}
                if factor < 1:
                    matched["fallback"] = f"{asked_kind} number"
                if asked_kind and e.number_kind and asked_kind != e.number_kind:
                    f *= 0.97
                    matched["number_kind"] = f"{asked_kind} as {e.number_kind}"
                if p.community and e.community and p.community != e.community:
                    f *= 0.85
                    matched["community"] = "differs"
                if p.street and e.street and p.street != e.street:
                    f *= 0.85
                    matched["street"] = "differs"
                cands.append(Candidate(e, s * f, matched))

    def _units(self, cands: list[Candidate], p: Parsed) -> list[Candidate]:
        if not p.unit:
            return cands
        out = []
        for c in cands:
            units = self.units.get(c.entry.pos, {})
            if p.unit in units:
                out.append(Candidate(self.entries[units[p.unit]], c.score, {**c.matched, "unit": p.unit}))
            elif units:
                out.append(Candidate(c.entry, c.score * 0.9, {**c.matched, "unit": f"{p.unit} not in registry"}))
            else:
                out.append(c)
        return out

    def _decide(self, query: str, norm: str, p: Parsed, cands: list[Candidate], limit: int) -> Resolution:
        cands.sort(key=lambda c: (-c.score, c.entry.id))
        seen: set = set()
        uniq: list[Candidate] = []
        for c in cands:
            key = c.entry.building_id if c.entry.building_id is not None else ("a", c.entry.id)
            if key in seen:
                continue
            seen.add(key)
            uniq.append(c)
        top = uniq[0]
        runner = uniq[1].score if len(uniq) > 1 else 0.0
        status = "matched" if top.score >= MATCH_MIN and top.score - runner >= MARGIN else "ambiguous"
        reason = None if status == "matched" else ("low_score" if top.score < MATCH_MIN else "close_candidates")
        return Resolution(query, norm, p, status, uniq[:limit], reason=reason)

    def _intersection(self, query: str, norm: str, p: Parsed) -> Resolution:
        assert p.roads
        found = []
        for q in p.roads:
            best = None
            for n in self.roads:
                s = name_similarity(q, n)
                if best is None or s > best[1]:
                    best = (n, s)
            found.append(best)
        if any(f is None or f[1] < NAME_MIN for f in found):
            missing = [q for q, f in zip(p.roads, found, strict=True) if f is None or f[1] < NAME_MIN]
            return Resolution(query, norm, p, "not_found", [], reason=f"unknown_road: {'、'.join(missing)}")
        (a, sa), (b, sb) = found  # type: ignore[misc]
        cross = shapely.intersection(self.roads[a], self.roads[b])
        if cross.is_empty:
            return Resolution(query, norm, p, "not_found", [], reason="roads_do_not_cross")
        pt = shapely.centroid(cross)
        score = min(sa, sb)
        inter = {"roads": [a, b], "point": {"lon": round(pt.x, 7), "lat": round(pt.y, 7)}, "score": round(score, 3)}
        status = "matched" if score >= MATCH_MIN else "ambiguous"
        return Resolution(query, norm, p, status, [], reason=None if status == "matched" else "low_score",
                          intersection=inter)



def load_index(session: Session, *, version: int = 0, extra_rows: Iterable = (), typed: bool = True) -> AddressIndex:
    rows = session.execute(text("""
        SELECT a.id, a.code, a.kind, a.building_id, b.code AS building_code, a.full_text, a.road, a.door_number,
               a.estate, a.building_no, a.unit, a.street, a.community, a.aliases,
               ST_X(a.location) AS lon, ST_Y(a.location) AS lat
        FROM address a LEFT JOIN building b ON b.id = a.building_id
        ORDER BY (a.kind IN ('unit', 'room')), a.id""")).all()
    roads = [(r.name, shapely.from_wkb(bytes(r.wkb))) for r in session.execute(text(
        "SELECT name, ST_AsBinary(geom) AS wkb FROM road ORDER BY id"))]
    for r in session.execute(text("SELECT name, aliases, ST_AsBinary(geom) AS wkb FROM road ORDER BY id")):
        for a in r.aliases or ():
            roads.append((a, shapely.from_wkb(bytes(r.wkb))))
    streets = [r[0] for r in session.execute(text("SELECT name FROM street"))]
    communities = [r[0] for r in session.execute(text("SELECT name FROM community"))]
    districts = {r[0] for r in session.execute(
        text("SELECT DISTINCT district FROM address WHERE district IS NOT NULL"))}
    districts |= set(DEFAULT_DISTRICTS)
    districts |= {d[:-1] for d in districts if d.endswith("区") and len(d) > 2}
    return AddressIndex.from_rows(list(rows) + list(extra_rows), version=version, roads=roads, districts=districts,
                                  streets=streets, communities=communities, typed=typed)

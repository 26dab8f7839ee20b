"""The in-memory routing index of each layout, kept fresh by PostgreSQL LISTEN/NOTIFY.

PostGIS is the truth; this is a cache. Each process holds one :class:`LayoutIndex` per layout it
has routed against (built on first use from one query), and the table of layout periods. Any
committed change to grids, layouts, communities or grid staff fires ``NOTIFY gridmap_layout``
(migration 0002); a listener thread drops the affected entries, and the next request rebuilds
them. A generation counter makes sure that an index built from data read before a change is never
stored after it.
"""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.core.notify import Listener
from api.grids.service import layout_periods
from api.people.service import mask_phone
from geo.routing import RoutingIndex

log = logging.getLogger("gridmap.routing")
CHANNEL = "gridmap_layout"


@dataclass(slots=True)
class LayoutIndex:
    layout_id: int
    name: str
    index: RoutingIndex
    #: Per grid (aligned with ``index.codes``): the properties a locate answer shows.
    grids: list[dict]
    #: Grid code -> staff on duty (phones masked) and the grid leader.
    staff: dict[str, list[dict]]


@dataclass(slots=True, frozen=True)
class Period:
    layout_id: int
    name: str
    start: datetime
    end: datetime | None


class IndexCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._indexes: dict[int, LayoutIndex] = {}
        self._build_locks: dict[int, threading.Lock] = {}
        self._periods: list[Period] | None = None
        self._generation = 0
        self._listener: Listener | None = None
        self.builds = 0

    # ------------------------------------------------------------------------------ invalidation

    def invalidate(self, payload: str = "*") -> None:
        with self._lock:
            self._generation += 1
            self._periods = None
            if payload == "*" or not payload.isdigit():
                self._indexes.clear()
            else:
                self._indexes.pop(int(payload), None)

    def on_notice(self, payload: str | None) -> None:
        """A ``gridmap_layout`` notice: drop what it names (``None``, notices may have been missed: all)."""
        self.invalidate("*" if payload is None else payload)

    def listen(self, listener: Listener) -> None:
        """Follow committed changes through the process's listener (api/core/notify.py). Anything may have
        changed while nobody listened: the cache is emptied once LISTEN is in place, and after a reconnect."""
        listener.subscribe(CHANNEL, self.on_notice, resync_on_listen=True)

    def start_listener(self, engine: Engine) -> None:
        """A listener of the cache's own (a cache outside the app: tests, tools)."""
        self._listener = Listener(engine, name="gridmap-listen")
        self.listen(self._listener)

    def stop_listener(self) -> None:
        if self._listener is not None:
            self._listener.stop()

    # ---------------------------------------------------------------------------------- lookups

    def periods(self, session: Session) -> list[Period]:
        periods = self._periods
        if periods is None:
            generation = self._generation
            rows = layout_periods(session)
            periods = [Period(r.id, r.name, r.effective_from, r.effective_to) for r in rows]
            with self._lock:
                if generation == self._generation:
                    self._periods = periods
        return periods

    def peek(self, at: datetime | None, layout_id: int | None) -> LayoutIndex | None:
        """The cached index for a layout id, or for the layout in force at ``at``; None on any miss.
        Never touches the database, so the event loop may call it."""
        if layout_id is None:
            periods = self._periods
            if periods is None or at is None:
                return None
            found = [p for p in periods if p.start <= at and (p.end is None or at < p.end)]
            if not found:
                return None
            layout_id = found[0].layout_id
        return self._indexes.get(layout_id)

    def layout_at(self, session: Session, at: datetime) -> Period | None:
        for p in self.periods(session):
            if p.start <= at and (p.end is None or at < p.end):
                return p
        return None

    def get(self, session: Session, layout_id: int) -> LayoutIndex | None:
        found = self._indexes.get(layout_id)
        if found is not None:
            return found
        # One build per layout at a time: the requests that arrive meanwhile wait for it rather than
        # building the same index in parallel.
        with self._lock:
            build_lock = self._build_locks.setdefault(layout_id, threading.Lock())
        with build_lock:
            found = self._indexes.get(layout_id)
            if found is not None:
                return found
            generation = self._generation
            built = build_layout_index(session, layout_id)
            if built is None:
                return None
            with self._lock:
                self.builds += 1
                if generation == self._generation:
                    self._indexes[layout_id] = built
            # The index lives until the layout changes: keep its objects out of the collector's full passes
            # (see the lifespan in api/main.py), which would otherwise pause every request for ~100 ms.
            gc.freeze()
            return built


def build_layout_index(session: Session, layout_id: int) -> LayoutIndex | None:
    name = session.execute(text("SELECT name FROM grid_layout WHERE id = :l"), {"l": layout_id}).scalar()
    if name is None:
        return None
    rows = session.execute(text("""
        SELECT g.code, g.name, g.name_en, ST_AsBinary(g.boundary) AS wkb,
               c.code AS community_code, c.name AS community_name, c.name_en AS community_name_en,
               s.code AS street_code, s.name AS street_name, s.name_en AS street_name_en
        FROM grid g LEFT JOIN community c ON c.code = g.community_code
        LEFT JOIN street s ON s.code = c.street_code
        WHERE g.layout_id = :l"""), {"l": layout_id}).mappings().all()
    codes = np.array([r["code"] for r in rows], dtype=object)
    polygons = shapely.from_wkb([bytes(r["wkb"]) for r in rows]) if rows else np.array([], dtype=object)
    index = RoutingIndex(codes, polygons)
    by_code = {r["code"]: r for r in rows}
    grids = []
    for code in index.codes:
        r = by_code[code]
        grids.append({
            "code": code, "name": r["name"], "name_en": r["name_en"],
            "community": {"code": r["community_code"], "name": r["community_name"],
                          "name_en": r["community_name_en"]} if r["community_code"] else None,
            "street": {"code": r["street_code"], "name": r["street_name"],
                       "name_en": r["street_name_en"]} if r["street_code"] else None,
        })
    staff: dict[str, list[dict]] = {}
    for s in session.execute(text("""
            SELECT grid_code, name, role, phone FROM person
            WHERE active AND grid_code IS NOT NULL AND (on_duty OR role = 'grid_leader')
            ORDER BY grid_code, role, name""")):
        staff.setdefault(s.grid_code, []).append({"name": s.name, "role": s.role, "phone": mask_phone(s.phone)})
    return LayoutIndex(layout_id, name, index, grids, staff)

"""Work that falls due at a moment rather than on a request: a layout published for a future date.

A publish with a future ``effective_from`` leaves three things for that moment (api/planner/publish.py):
the layout it replaces is retired, the staff lists of the new layout are applied, and, when the planner asked
for it, the open cases are re-routed to the new grids. Routing itself needs none of this (it reads layout
periods by time), but the people, the cases and the layout list do. Listing layouts or publishing again
catches up too; this thread makes sure it happens at the moment even when nobody looks.

The same round also moves the hourly heat roll-ups' horizon forward once a day and deletes the hour rows
before it (api/wall/heat.py, migration 0011), and settles the second half of a parallel bulk import that a
crash left prepared (api/core/pgload.py, ``resolve_prepared_imports``).

Every worker process runs one; a transaction-level advisory lock taken with ``pg_try_advisory_xact_lock``
lets one of them do each round and the others skip it, and the rows it works on are taken ``FOR UPDATE
SKIP LOCKED``, so nothing is applied twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

log = logging.getLogger("gridmap.due")

#: pg_try_advisory_xact_lock key of "a due-work round is running" ('gmdu' in ASCII).
DUE_LOCK = 0x676D6475


def run_due(session: Session, *, at: datetime | None = None) -> int | None:
    """One round in the caller's transaction: what is due at ``at`` (default: now) is applied. None when
    another process holds the round (it is doing the same work), else the number of publishes handled."""
    from api.planner.publish import apply_due

    if not session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": DUE_LOCK}).scalar_one():
        return None
    return apply_due(session, at=at)


class DueWork:
    """A daemon thread that runs :func:`run_due` every ``interval`` seconds in its own session."""

    def __init__(self, sessionmaker: Callable[[], Session], *, interval: float,
                 heat_hourly_days: int | None = None) -> None:
        self.sessionmaker = sessionmaker
        self.interval = interval
        #: Also keep the hourly heat roll-ups to this many days (api/wall/heat.py); None: leave them.
        self.heat_hourly_days = heat_hourly_days
        self.rounds = 0
        self.applied = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="gridmap-due", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def tick(self) -> int | None:
        """One round in a session of its own; a failure (the database down, say) is logged and the next
        round tries again: nothing is lost, since what is due stays due."""
        try:
            with self.sessionmaker() as session:
                n = run_due(session)
                session.commit()
                if n is not None and self.heat_hourly_days is not None:
                    from api.wall.heat import advance_hourly_horizon

                    advance_hourly_horizon(session, days=self.heat_hourly_days)
                    session.commit()
                if n is not None:
                    from api.core.pgload import resolve_prepared_imports

                    for gid, what in resolve_prepared_imports(session.get_bind()):
                        log.warning("a parallel import's second half left prepared was %s: %s", what, gid)
        except Exception as exc:  # a background round must never end the thread
            self.failures += 1
            log.warning("due work failed (next round in %.0f s): %s", self.interval, exc)
            return None
        self.rounds += 1
        if n:
            self.applied += n
            log.info("due work: %d future-dated publish(es) came into force", n)
        return n

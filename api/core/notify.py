"""Notices (``pg_notify``): sent after the transaction that caused them has committed, off the request path
(:class:`Notifier`), and received on the process's one LISTEN connection (:class:`Listener`).

Why not ``NOTIFY`` inside the writing transaction, which would be simpler and exactly-once? PostgreSQL
serialises the commits of every transaction that notified on one global lock, held across the commit's WAL
flush: with intake at a few hundred reports a second that lock, not the work, sets the pace (measured:
intake waited on ``Lock:object`` with 16 clients). So a transaction registers its notices with
:func:`on_commit`; once it has committed they go to a :class:`Notifier` thread, which sends whatever has
queued up in one small transaction of its own with ``synchronous_commit = off`` (a notice carries no data to
lose: the rows are already durable). A rolled-back transaction sends nothing.

The trade-off, stated: a process killed between a commit and the notifier's next batch (milliseconds) loses
that batch's notices. Listeners already treat notices as hints: the wall re-reads its aggregates on a timer
and after a reconnect, and the routing and tile caches re-read the database when told ``*``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

log = logging.getLogger("gridmap.notify")
Callback = Callable[[str | None], None]
_KEY = "gridmap_after_commit"


def on_commit(session: Session, fn: Callable[[], None]) -> None:
    """Call ``fn`` once the session's current transaction has committed (never if it rolls back)."""
    session.info.setdefault(_KEY, []).append(fn)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    for fn in session.info.pop(_KEY, []):
        try:
            fn()
        except Exception:  # the commit has happened; a failed hook must not undo the answer
            log.exception("an after-commit hook failed")


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_rollback(session: Session, _previous_transaction: object) -> None:
    session.info.pop(_KEY, None)


class Notifier:
    """A thread with its own connection that sends queued ``(channel, payload)`` notices in batches."""

    def __init__(self, engine: Engine, *, name: str = "gridmap-notify", max_batch: int = 500) -> None:
        self.url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.name = name
        self.max_batch = max_batch
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue(maxsize=100_000)
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.dropped = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is queued, then end the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=timeout)
            self._thread = None

    def send(self, channel: str, payload: str) -> None:
        """Queue a notice; never blocks the caller (a full queue drops the notice and counts it)."""
        if self._thread is None:  # not started (a CLI or a test without the app): nobody listens in-process
            return
        try:
            self._queue.put_nowait((channel, payload))
        except queue.Full:
            self.dropped += 1

    def _batch(self) -> tuple[list[tuple[str, str]], bool]:
        first = self._queue.get()
        if first is None:
            return [], True
        items, stop = [first], False
        while len(items) < self.max_batch:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                stop = True
                break
            items.append(nxt)
        return items, stop

    def _run(self) -> None:
        conn: psycopg.Connection | None = None
        stop = False
        while not stop:
            items, stop = self._batch()
            for attempt in range(3):
                if not items:
                    break
                try:
                    if conn is None or conn.closed:
                        conn = psycopg.connect(self.url, autocommit=False, application_name=self.name)
                        conn.execute("SET synchronous_commit = off")
                        conn.commit()
                    with conn.transaction():
                        conn.execute("SELECT pg_notify(c, p) FROM unnest(%s::text[], %s::text[]) AS t(c, p)",
                                     ([c for c, _ in items], [p for _, p in items]))
                    self.sent += len(items)
                    break
                except psycopg.Error as exc:
                    log.warning("%s could not send %d notices (%s); attempt %d", self.name, len(items), exc,
                                attempt + 1)
                    if conn is not None:
                        conn.close()
                    conn = None
                    if attempt == 2:
                        self.dropped += len(items)
                    else:
                        threading.Event().wait(0.2 * (attempt + 1))
        if conn is not None:
            conn.close()


class Listener:
    """The process's one LISTEN connection: a thread that hands each notice to the callbacks subscribed to its
    channel (the routing index cache, the tile cache, the wall's live stream, the credential caches), instead of
    a connection and a thread for each of them.

    A callback is called on the listener's thread with the notice's payload, or with ``None`` ("you may have
    missed notices") after the connection was lost and made again, so that caches drop everything and streams
    tell their clients to resynchronise. ``resync_on_listen`` adds that ``None`` right after the channel's
    first LISTEN too, for a cache that may have been filled before it listened. A channel subscribed while the
    thread runs is listened to within ``poll_s``. The thread starts with the first subscription."""

    def __init__(self, engine: Engine, *, name: str = "gridmap-listen", poll_s: float = 0.5) -> None:
        self.url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.name = name
        self.poll_s = poll_s
        self._callbacks: dict[str, list[tuple[Callback, bool]]] = {}
        self._pending: set[str] = set()
        self._listening: set[str] = set()  # on the current connection
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def subscribe(self, channel: str, callback: Callback, *, resync_on_listen: bool = False) -> None:
        with self._lock:
            self._callbacks.setdefault(channel, []).append((callback, resync_on_listen))
            if channel not in self._listening:
                self._pending.add(channel)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def unsubscribe(self, channel: str, callback: Callback) -> None:
        """Stop calling ``callback`` (the channel stays listened to: a notice nobody wants costs nothing)."""
        with self._lock:
            self._callbacks[channel] = [(cb, r) for cb, r in self._callbacks.get(channel, []) if cb != callback]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _dispatch(self, channel: str, payload: str | None, *, only_resync: bool = False) -> None:
        with self._lock:
            callbacks = [cb for cb, resync in self._callbacks.get(channel, []) if resync or not only_resync]
        for callback in callbacks:
            try:
                callback(payload)
            except Exception:  # one bad notice or subscriber must not kill the listener
                log.exception("%s: handling a notice on %s failed", self.name, channel)

    def _run(self) -> None:
        reconnect = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, application_name=self.name) as conn:
                    with self._lock:
                        self._pending, self._listening = set(self._callbacks), set()
                    self.connected.set()
                    while not self._stop.is_set():
                        with self._lock:
                            new, self._pending = sorted(self._pending), set()
                            self._listening.update(new)
                        for channel in new:
                            conn.execute(f"LISTEN {channel}")
                        for channel in new:
                            self._dispatch(channel, None, only_resync=not reconnect)
                        reconnect = False
                        for note in conn.notifies(timeout=self.poll_s):
                            self._dispatch(note.channel, note.payload)
            except psycopg.Error as exc:
                self.connected.clear()
                reconnect = True
                log.warning("%s lost its connection (%s); retrying", self.name, exc)
                self._stop.wait(1.0)

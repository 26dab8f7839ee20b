"""Group commit: many requests' writes in one transaction, each request answered only after that commit.

Why (issue 4, 9): intake measured 65 reports/s with 16 clients, the server mostly *waiting*: every report ran in
its own thread with its own transaction, so each paid a pool checkout with a ping, BEGIN, its statement and a
COMMIT that waits for the WAL flush, and the reports of one street (the same heat roll-up rows) queued on each
other's row locks until each of those flushes was done. The audit row of each request did the same again in a
second transaction. Meanwhile the 40 threads of the pool fought over the GIL and held the threadpool that the
map wall's reads need.

A :class:`BatchWriter` is one thread with one session: requests hand it a function of the session and await the
result. The thread takes whatever has queued up (up to ``max_batch``), runs each function in turn (each in its
own SAVEPOINT when ``isolate``: one request's error, a 409 or 422, never touches the others), commits once, and
only then answers every request of the batch. Durability is unchanged: a request is answered after the commit
that holds its write, and a failed commit fails every request of the batch (nothing of them was written; they
get the same 503 problem as before and may retry with their Idempotency-Key). Under light load a batch is one
request, so latency is that of one transaction; under heavy load one WAL flush and one trip through the
roll-up rows serve the whole batch, and no two intake transactions wait on each other's locks.

Requests are grouped by the session factory they bring, so a test's dependency override (a session bound to
the test's rolled-back transaction) is honoured.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("gridmap.batch")
Factory = Callable[[], AbstractContextManager[Session]]


@dataclass(slots=True)
class _Item:
    factory: Factory
    fn: Callable[[Session], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    prepare: Callable[[Session], Any] | None = None
    result: Any = None
    error: BaseException | None = None


def _settle(item: _Item) -> None:
    fut = item.future
    if fut.done():  # the client went away (cancelled); its write stands, nobody is waiting for the answer
        return
    if item.error is not None:
        fut.set_exception(item.error)
    else:
        fut.set_result(item.result)


class BatchWriter:
    """Run ``fn(session)`` for many requests in one transaction per batch (see the module docstring).

    ``isolate``: each function in its own SAVEPOINT (for work that may fail on its own, such as intake).
    Without it a failing batch is rolled back and its functions run again one transaction each, so one bad
    row never loses the others. ``prepare`` runs first in every transaction (e.g. ``SET LOCAL``).

    ``bulk``: write many requests with one statement. A request queued with ``run(..., prepare=p)`` is, when
    two or more such requests share a batch, not run through its ``fn``: ``p(session)`` makes its row (or raises
    its own :class:`GridmapError`, answered as such), then ``bulk(session, rows)`` writes them all and returns
    one result (or exception, that request's own refusal) per row, in order. No savepoints: if ``bulk`` raises,
    the transaction is rolled back and every request is written again one transaction each through its ``fn``,
    so a row that breaks the statement fails only its own request."""

    def __init__(self, name: str, *, max_batch: int = 64, isolate: bool = True,
                 prepare: Callable[[Session], None] | None = None, threads: int = 1,
                 bulk: Callable[[Session, list[Any]], list[Any]] | None = None) -> None:
        self.name = name
        self.threads = max(1, threads)
        self.max_batch = max(1, max_batch)
        self.isolate = isolate
        self.prepare = prepare
        self.bulk = bulk
        self._local = threading.local()  # each thread's own connection (see _session)
        self._pending: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._workers: list[threading.Thread] = []
        self._stopping = False
        #: Batches committed and items written, for the tests and /metrics-minded readers.
        self.batches = 0
        self.items = 0
        #: Requests written by ``bulk`` (the rest went through their own ``fn``).
        self.bulk_items = 0

    async def run(self, factory: Factory, fn: Callable[[Session], Any], *,
                  prepare: Callable[[Session], Any] | None = None) -> Any:
        """Queue ``fn`` and wait until the transaction that ran it has committed; returns its result or raises
        its error (or the commit's). With ``prepare`` (and a ``bulk`` writer) it may be written with others in
        one statement instead (see the class docstring)."""
        loop = asyncio.get_running_loop()
        item = _Item(factory, fn, loop, loop.create_future(), prepare if self.bulk is not None else None)
        with self._cond:
            if not self._workers or not all(t.is_alive() for t in self._workers):
                self._stopping = False
                self._workers = [t for t in self._workers if t.is_alive()]
                while len(self._workers) < self.threads:
                    t = threading.Thread(target=self._loop, name=f"gridmap-{self.name}", daemon=True)
                    t.start()
                    self._workers.append(t)
            self._pending.append(item)
            self._cond.notify()
        return await item.future

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            workers = list(self._workers)
        for t in workers:
            t.join(timeout)

    # ------------------------------------------------------------------------------------------ the thread

    def _take(self) -> list[_Item] | None:
        with self._cond:
            while not self._pending:
                if self._stopping:
                    return None
                self._cond.wait()
            first = self._pending.popleft()
            batch = [first]
            kept: list[_Item] = []
            while self._pending and len(batch) < self.max_batch:
                item = self._pending.popleft()
                (batch if item.factory is first.factory else kept).append(item)
            self._pending.extendleft(reversed(kept))
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                conn = getattr(self._local, "conn", None)
                if conn is not None:
                    conn.close()
                return
            try:
                self._write(batch)
            except BaseException as exc:  # every waiting request must get an answer
                for item in batch:
                    if item.error is None:
                        item.error = exc
            for item in batch:
                item.loop.call_soon_threadsafe(_settle, item)

    def _write(self, batch: list[_Item], *, retried: bool = False) -> None:
        """One transaction for the batch. A request's own refusal (a :class:`GridmapError`: 409, 422) is rolled
        back to its savepoint (``isolate``) and answered as such. Any other failure while writing (a broken
        connection, a constraint no validation caught) rolls the whole batch back and runs its requests again one
        transaction each, so that it reaches only the request that caused it, as a 503 or 500 problem. A failed
        COMMIT fails every request of the batch: none of them was written (they retry with their key)."""
        from api.core.errors import GridmapError

        with self._session(batch[0].factory) as session:
            try:
                if self.prepare is not None:
                    self.prepare(session)
                together = [item for item in batch if item.prepare is not None] if len(batch) > 1 else []
                bulked: list[_Item] = []
                if len(together) > 1:
                    bulked = self._bulk(session, together)
                else:
                    together = []
                in_bulk = {id(item) for item in together}
                for item in batch:
                    if id(item) not in in_bulk:
                        self._one(session, item)
            except Exception as exc:  # see the docstring
                _rollback(session)
                if not retried and self._drop_connection(exc):
                    # The connection this thread kept died under it (the server restarted, failed over, or
                    # ended it): nothing was committed, so the batch is written again on a new one. A pool
                    # checkout's ping would have caught it before use; this costs nothing while all is well.
                    log.warning("%s: the database connection was lost (%s); writing the batch again on a new "
                                "one", self.name, exc)
                    for item in batch:
                        item.error = item.result = None
                    self._write(batch, retried=True)
                    return
                if len(batch) == 1:
                    batch[0].error = exc
                    return
                log.warning("%s: a batch of %d failed (%s); writing them one by one", self.name, len(batch), exc)
                for item in batch:
                    item.error = item.result = None
                    item.prepare = None  # one by one: through its own fn
                    self._write([item])
                return
            try:
                session.commit()
            except Exception as exc:  # nothing of the batch was written
                _rollback(session)
                for item in batch:
                    if not isinstance(item.error, GridmapError):
                        item.error = exc
                return
        self.batches += 1
        self.items += sum(1 for item in batch if item.error is None)
        self.bulk_items += sum(1 for item in bulked if item.error is None)

    def _session(self, factory: Factory) -> AbstractContextManager[Session]:
        """A session for one batch. For an engine-bound ``sessionmaker`` (the app's), on a connection this thread
        keeps from batch to batch: a pool checkout would ping the server first (``pool_pre_ping``), one more
        round trip per batch. A connection the server dropped fails the batch's first statement; the batch is
        then written again once on a new connection (:meth:`_drop_connection`). Any other factory (a test's) is
        used as is."""
        bind = factory.kw.get("bind") if isinstance(factory, sessionmaker) else None
        if not isinstance(bind, Engine):
            return factory()
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.invalidated or conn.engine is not bind:
            if conn is not None:
                conn.close()
            conn = self._local.conn = bind.connect()
        return Session(bind=conn, expire_on_commit=False)

    def _drop_connection(self, exc: BaseException) -> bool:
        """Forget the kept connection when ``exc`` says it is unusable; True when there was one to forget."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or not isinstance(exc, OperationalError | InterfaceError):
            return False
        self._local.conn = None
        try:
            conn.invalidate()
            conn.close()
        except Exception:  # it is gone either way
            log.debug("closing a lost connection failed", exc_info=True)
        return True

    def _bulk(self, session: Session, items: list[_Item]) -> list[_Item]:
        """Prepare each item's row (a request's own refusal answers that request only), then write every row
        with one ``bulk`` call. Its errors propagate: :meth:`_write` then goes one by one."""
        from api.core.errors import GridmapError

        rows, owners = [], []
        for item in items:
            try:
                rows.append(item.prepare(session))  # type: ignore[misc]
                owners.append(item)
            except GridmapError as exc:
                item.error = exc
        if not rows:
            return owners
        results = self.bulk(session, rows)  # type: ignore[misc]
        for item, result in zip(owners, results, strict=True):
            if isinstance(result, BaseException):
                item.error = result
            else:
                item.result = result
        return owners

    def _one(self, session: Session, item: _Item) -> None:
        from api.core.errors import GridmapError

        if not self.isolate:
            item.result = item.fn(session)
            return
        # A savepoint's rollback fires the session's rollback events, which drop the after-commit hooks
        # (api/core/notify.py) of the *whole* session: keep the other requests' hooks.
        saved = {k: list(v) if isinstance(v, list) else v for k, v in session.info.items()}
        try:
            with session.begin_nested():
                item.result = item.fn(session)
        except GridmapError as exc:  # this request's own refusal, rolled back to its savepoint
            item.error = exc
            session.info.clear()
            session.info.update(saved)


def _rollback(session: Session) -> None:
    try:
        session.rollback()
    except Exception:  # a lost connection cannot roll back; the pool discards it
        log.debug("rollback failed", exc_info=True)

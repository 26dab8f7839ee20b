"""Group commit (api/core/batch.py): one transaction for many requests, each answered only after it commits, a
request's own refusal or failure never reaching the others, a failed commit failing them all."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.core.batch import BatchWriter
from api.core.errors import Conflict


@pytest.fixture
def table(engine: Engine) -> Iterator[str]:
    name = f"batch_probe_{os.getpid()}"
    with engine.begin() as c:
        c.execute(text(f"CREATE TABLE {name} (id int PRIMARY KEY, parent int REFERENCES {name} (id) "
                       "DEFERRABLE INITIALLY DEFERRED, txid bigint DEFAULT txid_current())"))
    yield name
    with engine.begin() as c:
        c.execute(text(f"DROP TABLE {name}"))


def _rows(engine: Engine, table: str) -> dict[int, int]:
    with engine.connect() as c:
        return dict(c.execute(text(f"SELECT id, txid FROM {table}")).all())


def _run(writer: BatchWriter, factory, fns) -> list:
    """Queue a gate (which holds the writer until every function is queued), then ``fns``; results or errors."""
    gate = threading.Event()

    async def scenario() -> list:
        first = asyncio.ensure_future(writer.run(factory, lambda s: gate.wait(10)))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(writer.run(factory, fn)) for fn in fns]
        await asyncio.sleep(0.05)
        gate.set()
        await first
        return await asyncio.gather(*rest, return_exceptions=True)

    try:
        return asyncio.run(scenario())
    finally:
        writer.stop()


def _insert(table: str, i: int, parent: int | None = None):
    def fn(session: Session) -> int:
        session.execute(text(f"INSERT INTO {table} (id, parent) VALUES (:i, :p)"), {"i": i, "p": parent})
        return i
    return fn


def test_queued_requests_share_one_commit_and_a_refusal_stays_its_own(engine: Engine, table: str) -> None:
    factory = sessionmaker(engine)

    def refuse(session: Session) -> None:
        session.execute(text(f"INSERT INTO {table} (id) VALUES (99)"))
        raise Conflict("no")  # after writing: rolled back to its savepoint, the others unaffected

    writer = BatchWriter("t", max_batch=64)
    out = _run(writer, factory, [_insert(table, 1), _insert(table, 2), refuse, _insert(table, 3)])
    assert out[:2] == [1, 2] and isinstance(out[2], Conflict) and out[3] == 3
    rows = _rows(engine, table)
    assert set(rows) == {1, 2, 3}
    assert len(set(rows.values())) == 1  # one transaction
    assert writer.batches == 2 and writer.items == 1 + 3  # the gate, then the four (one refused)


def test_a_database_error_reaches_only_its_request(engine: Engine, table: str) -> None:
    factory = sessionmaker(engine)

    def broken(session: Session) -> None:
        session.execute(text("SELECT 1 / 0"))

    writer = BatchWriter("t", max_batch=64)
    out = _run(writer, factory, [_insert(table, 1), broken, _insert(table, 2)])
    assert out[0] == 1 and out[2] == 2 and "division by zero" in str(out[1])
    assert set(_rows(engine, table)) == {1, 2}


def test_a_failed_commit_fails_every_request_of_the_batch_and_writes_nothing(engine: Engine, table: str) -> None:
    factory = sessionmaker(engine)
    writer = BatchWriter("t", max_batch=64)
    out = _run(writer, factory, [_insert(table, 1), _insert(table, 2, parent=42), _insert(table, 3)])
    assert all("foreign key" in str(o) for o in out), out  # the deferred constraint fails at COMMIT
    assert _rows(engine, table) == {}


def test_without_isolation_a_failing_batch_is_written_one_by_one(engine: Engine, table: str) -> None:
    factory = sessionmaker(engine)
    seen: list[str] = []
    writer = BatchWriter("t", max_batch=64, isolate=False,
                         prepare=lambda s: seen.append(s.execute(text("SHOW synchronous_commit")).scalar_one()))
    out = _run(writer, factory, [_insert(table, 1), _insert(table, 1), _insert(table, 2)])  # a duplicate key
    assert out[0] == 1 and out[2] == 2 and "duplicate key" in str(out[1])
    assert set(_rows(engine, table)) == {1, 2} and seen


def test_a_kept_connection_the_server_ended_is_replaced_and_the_batch_written(engine: Engine, table: str) -> None:
    """The writer keeps its connection from batch to batch (no ping per checkout). When the server ends it (a
    restart, a failover, pg_terminate_backend), the next batch must still be written, once, on a new one:
    nothing of it was committed on the dead connection."""
    factory = sessionmaker(engine)
    writer = BatchWriter("t", max_batch=64)

    def pid(session: Session) -> int:
        return session.execute(text("SELECT pg_backend_pid()")).scalar_one()

    async def scenario() -> list:
        first = await writer.run(factory, pid)
        with engine.begin() as c:  # end the writer's backend, as a server restart would
            assert c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first}).scalar_one()
        await asyncio.sleep(0.2)
        return [first, await writer.run(factory, _insert(table, 1)), await writer.run(factory, pid)]

    try:
        first, inserted, second = asyncio.run(scenario())
    finally:
        writer.stop()
    assert inserted == 1 and set(_rows(engine, table)) == {1}  # written once, on the new connection
    assert second != first

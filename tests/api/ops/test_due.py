"""The due-work thread (api/ops/due.py): one round at a time across processes, failures survived."""

from __future__ import annotations

import time

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.ops.due import DueWork, run_due


def test_one_round_at_a_time(engine: Engine, db: Session) -> None:
    assert run_due(db) == 0  # holds the round's lock until this transaction ends
    with Session(engine) as other:
        assert run_due(other) is None  # another process's round: skipped, not waited for
        other.rollback()
    db.rollback()
    with Session(engine) as other:
        assert run_due(other) == 0
        other.rollback()


def test_the_thread_runs_rounds_and_survives_a_database_it_cannot_reach(engine: Engine) -> None:
    work = DueWork(sessionmaker(engine), interval=0.05)
    work.start()
    try:
        deadline = time.monotonic() + 10
        while work.rounds < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        work.stop()
    assert work.rounds >= 2 and work.failures == 0
    dead: Engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none", pool_pre_ping=False)
    broken = DueWork(sessionmaker(dead), interval=60)
    assert broken.tick() is None and broken.failures == 1  # logged; the next round tries again
    assert DueWork(sessionmaker(engine), interval=0).start() is None  # interval 0: no thread at all


def test_a_round_moves_the_hourly_heat_horizon(engine: Engine) -> None:
    from api.wall.heat import hourly_target

    work = DueWork(sessionmaker(engine), interval=60, heat_hourly_days=40)
    try:
        assert work.tick() == 0
        with Session(engine) as s:
            since = s.execute(text("SELECT since FROM heat_hourly_horizon")).scalar_one()
        assert since == hourly_target(40)
    finally:  # one round only moves it (rows go one round later): moving it back leaves the database as it was
        with Session(engine) as s:
            s.execute(text("UPDATE heat_hourly_horizon SET since = '-infinity', pruned = '-infinity'"))
            s.commit()

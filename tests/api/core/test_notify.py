"""Notices after commit: sent once the transaction has committed, never after a rollback, in batches."""

from __future__ import annotations

import json

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.core.notify import Notifier, on_commit


def test_hooks_run_after_commit_and_never_after_rollback(engine: Engine) -> None:
    ran: list[str] = []
    with Session(engine) as s:
        s.execute(text("SELECT 1"))
        on_commit(s, lambda: ran.append("rolled back"))
        s.rollback()
        s.commit()  # a later commit must not run the hook of the rolled-back transaction
        on_commit(s, lambda: ran.append("committed"))
        assert ran == []
        s.commit()
    assert ran == ["committed"]


def test_the_notifier_delivers_every_queued_notice_to_a_listener(engine: Engine) -> None:
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    notifier = Notifier(engine, max_batch=7)
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute("LISTEN gridmap_test_notify")
        notifier.start()
        for i in range(50):
            notifier.send("gridmap_test_notify", json.dumps({"i": i}))
        notifier.stop()  # sends what is queued first
        got = [json.loads(n.payload)["i"] for n in listener.notifies(timeout=3, stop_after=50)]
    assert got == list(range(50))
    assert notifier.sent == 50 and notifier.dropped == 0

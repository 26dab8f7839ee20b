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


def test_one_listen_connection_serves_every_subscriber_and_channel(engine: Engine) -> None:
    """The process's listener: channels subscribed before and while it runs, two callbacks on one channel, one
    connection for all; a resync subscriber is told ``None`` once its channel is listened to."""
    import threading
    import time

    from api.core.notify import Listener

    got: list[tuple[str, str | None]] = []
    done = threading.Event()

    def on(name: str):
        def callback(payload: str | None) -> None:
            got.append((name, payload))
            if len(got) >= 4:
                done.set()
        return callback

    listener = Listener(engine, name="gridmap-listen-test", poll_s=0.1)
    listener.subscribe("gridmap_test_a", on("a1"), resync_on_listen=True)
    try:
        assert listener.connected.wait(5)
        listener.subscribe("gridmap_test_a", on("a2"))
        listener.subscribe("gridmap_test_b", on("b"))
        time.sleep(0.5)  # past a poll: both channels listened to
        with Session(engine) as s:
            s.execute(text("SELECT pg_notify('gridmap_test_a', 'x'), pg_notify('gridmap_test_b', 'y')"))
            s.commit()
            assert done.wait(5)
            assert s.execute(text("SELECT count(*) FROM pg_stat_activity "
                                  "WHERE application_name = 'gridmap-listen-test'")).scalar_one() == 1
    finally:
        listener.stop()
    assert sorted(got, key=str) == sorted([("a1", None), ("a1", "x"), ("a2", "x"), ("b", "y")], key=str)

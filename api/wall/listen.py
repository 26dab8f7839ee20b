"""A LISTEN thread on its own psycopg connection that hands each NOTIFY to a callback per channel.

Reconnects after a lost connection and then calls every callback with ``None`` ("you may have missed
notices"), so that caches drop everything and streams can tell clients to resynchronise.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import Engine

log = logging.getLogger("gridmap.listen")


class Listener:
    def __init__(self, engine: Engine, callbacks: dict[str, Callable[[str | None], None]], *, name: str) -> None:
        self.url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.callbacks = callbacks
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _dispatch(self, channel: str, payload: str | None) -> None:
        try:
            self.callbacks[channel](payload)
        except Exception:  # noqa: BLE001 - one bad notice must not kill the listener
            log.exception("%s: handling a notice on %s failed", self.name, channel)

    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, application_name=self.name) as conn:
                    for channel in self.callbacks:
                        conn.execute(f"LISTEN {channel}")
                    self.connected.set()
                    if not first:
                        for channel in self.callbacks:
                            self._dispatch(channel, None)
                    first = False
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            self._dispatch(note.channel, note.payload)
            except psycopg.Error as exc:
                self.connected.clear()
                log.warning("%s lost its connection (%s); retrying", self.name, exc)
                self._stop.wait(1.0)

"""``gridmap webhooks run``: a delivery worker on its own (beside or instead of the app processes' workers)."""

from __future__ import annotations

import signal
import threading
import time
from typing import Annotated

import typer

from api.core.config import get_settings
from api.core.db import make_engine, make_sessionmaker

webhooks_app = typer.Typer(help="Webhooks: deliver the outbox's events to subscribers.", no_args_is_help=True)


@webhooks_app.command("run")
def run(seconds: Annotated[float | None, typer.Option(help="stop after this long (default: until SIGTERM)")] = None,
        ) -> None:
    """Deliver until stopped: woken by NOTIFY gridmap_webhook, polling as well; SIGTERM/SIGINT finish what is in
    flight. Any number of these (and app processes) share the queue."""
    from api.core.notify import Listener
    from api.webhooks.events import CHANNEL
    from api.webhooks.worker import DeliveryWorker

    settings = get_settings()
    engine = make_engine(settings, pool_size=2)
    worker = DeliveryWorker(make_sessionmaker(engine), settings, name="gridmap-webhooks-cli")
    listener = Listener(engine, name="gridmap-webhooks-listen")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    listener.subscribe(CHANNEL, worker.wake)
    t0 = time.monotonic()
    try:
        while not stop.wait(1.0):
            if seconds is not None and time.monotonic() - t0 >= seconds:
                break
    finally:
        listener.stop()
        worker.stop()
        engine.dispose()
    typer.echo(f"delivered {worker.delivered}, failed attempts {worker.failed}")

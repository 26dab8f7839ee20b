"""The delivery worker: one per app process (started in the lifespan) or ``gridmap webhooks run`` on its own.

A thread runs an asyncio loop with one aiohttp client (keep-alive connections, ``webhook_concurrency`` requests in
flight). It leases due deliveries (api/webhooks/queue.py), sends each as a signed POST, and records the outcomes a
round at a time, on a connection with ``synchronous_commit = off`` (a lost record only means a repeat, which the
receiver's de-duplication by event id absorbs: at least once). It is woken by the outbox's NOTIFY (through the
shared LISTEN thread, api/core/notify.py) and polls every ``webhook_poll_s`` as well; the overdue sweep and the
retention prune run on their own clocks inside the same loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import aiohttp
from prometheus_client import Counter, Histogram
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.config import Settings
from api.webhooks import channels, events, queue

log = logging.getLogger("gridmap.webhooks")
PRUNE_EVERY_S = 3600.0
#: /metrics (api/core/observe.py serves the default registry): attempts by outcome, and the delivery lag.
ATTEMPTS = Counter("gridmap_webhook_attempts_total", "Webhook delivery attempts, by outcome", ["outcome"])
LAG = Histogram("gridmap_webhook_delivery_lag_seconds", "From an event to its delivery (first or later attempt)",
                buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600, 86400))
ROUND_S = 0.01


class DeliveryWorker:
    def __init__(self, sessions: Callable[[], AbstractContextManager[Session]], settings: Settings, *,
                 name: str = "gridmap-webhooks") -> None:
        self.sessions = sessions
        self.settings = settings
        self.name = name
        self.channel = channels.load_channel(settings.webhook_notice_channel)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = threading.Event()
        self.delivered = self.failed = 0
        self._next_sweep = 0.0
        self._next_prune = time.monotonic() + 60.0

    # -- life cycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(ready,), name=self.name, daemon=True)
        self._thread.start()
        ready.wait(5)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self, _payload: str | None = None) -> None:
        """Called from any thread (the LISTEN thread on ``gridmap_webhook``): look at the queue now."""
        loop, ev = self._loop, self._wake
        if loop is not None and ev is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(ev.set)
            except RuntimeError:  # the loop closed in between
                pass

    def _main(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._wake = asyncio.Event()
        ready.set()
        try:
            loop.run_until_complete(self._run())
        except Exception:
            log.exception("%s stopped", self.name)
        finally:
            loop.close()

    # -- the loop ---------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        s = self.settings
        assert self._wake is not None
        timeout = aiohttp.ClientTimeout(total=s.webhook_timeout_s)
        connector = aiohttp.TCPConnector(limit=s.webhook_concurrency, limit_per_host=s.webhook_concurrency)
        inflight: set[asyncio.Task[queue.Outcome]] = set()
        waker: asyncio.Task[bool] | None = None
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
            while not self._stopping.is_set():
                self._housekeeping()
                free = s.webhook_concurrency - len(inflight)
                jobs = self._claim(free) if free > 0 else []
                for job in jobs:
                    inflight.add(asyncio.create_task(self._deliver(http, job)))
                if waker is None or waker.done():
                    self._wake.clear()
                    waker = asyncio.create_task(self._wake.wait())
                done, _ = await asyncio.wait({*inflight, waker}, timeout=s.webhook_poll_s,
                                             return_when=asyncio.FIRST_COMPLETED)
                if done - {waker} and len(inflight) > 1:
                    # Let the answers arriving together be recorded together: one statement a round, not one a
                    # delivery (at a few hundred a second the rounds, not the sends, were the worker's cost).
                    await asyncio.sleep(ROUND_S)
                finished = [t for t in inflight if t.done()]
                if finished:
                    inflight.difference_update(finished)
                    self._record([t.result() for t in finished])
            if inflight:  # let what is in flight finish; anything cut off is retried after its lease
                done, _ = await asyncio.wait(inflight, timeout=s.webhook_timeout_s)
                self._record([t.result() for t in done])
            if waker is not None:
                waker.cancel()

    def _claim(self, n: int) -> list[queue.Job]:
        lease = self.settings.webhook_timeout_s + 30
        return self._db(lambda ses: queue.claim(ses, n=n, lease_s=lease)) or []  # type: ignore[return-value]

    def _db(self, fn: Callable[[Session], object]) -> object:
        try:
            with self.sessions() as ses:
                ses.execute(text("SET LOCAL synchronous_commit = off"))
                out = fn(ses)
                ses.commit()
                return out
        except Exception:
            log.exception("%s: a queue statement failed", self.name)
            time.sleep(min(1.0, self.settings.webhook_poll_s))
            return None

    def _record(self, outcomes: list[queue.Outcome]) -> None:
        s = self.settings
        self.delivered += sum(o.ok for o in outcomes)
        self.failed += sum(not o.ok for o in outcomes)
        self._db(lambda ses: queue.complete(ses, outcomes, max_attempts=s.webhook_max_attempts,
                                            base_s=s.webhook_backoff_base_s, max_s=s.webhook_backoff_max_s))

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.settings.webhook_overdue_interval_s
            self._db(queue.sweep_overdue)
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY_S
            self._db(lambda ses: queue.prune(ses, days=self.settings.webhook_retention_days))

    async def _deliver(self, http: aiohttp.ClientSession, job: queue.Job) -> queue.Outcome:
        attempt = job.attempts + 1
        if job.format == "notice":
            sent = await self._notify(http, job)
        else:
            raw = events.body(event_id=job.event_id, etype=job.event_type, occurred_at=job.occurred_at,
                              payload=job.payload)
            sent = await channels.post(http, url=job.url, raw=raw, secret=job.secret, event_id=job.event_id,
                                       event_type=job.event_type, delivery_id=job.delivery_id, attempt=attempt)
        ATTEMPTS.labels("delivered" if sent.ok else "failed").inc()
        if sent.ok:
            LAG.observe(max(0.0, time.time() - job.occurred_at.timestamp()))
        return queue.Outcome(job.delivery_id, job.subscription_id, job.attempts, sent.ok, sent.status, sent.error)

    async def _notify(self, http: aiohttp.ClientSession, job: queue.Job) -> channels.Sent:
        pid = (job.payload.get("case") or {}).get("assignee_id")
        people = {}
        if pid is not None:
            row = self._db(lambda ses: ses.execute(text("SELECT name, phone FROM person WHERE id = :p"),
                                                   {"p": pid}).first())
            if row is not None:
                people[pid] = (row.name, row.phone)
        notices = channels.notices_for(event_id=job.event_id, event_type=job.event_type, payload=job.payload,
                                       people=people)
        if not notices:
            return channels.Sent(True, None, "nobody to notify")
        return await self.channel.send(notices, url=job.url, secret=job.secret, http=http, event_id=job.event_id)

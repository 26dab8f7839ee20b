"""Back-pressure on intake: a per-key token bucket (429) and a cap on intake requests in flight (503).

Why two: the token bucket stops one client (a runaway hotline bridge, a retry storm) from taking the whole
service, and answers it ``429 rate_limited`` with the seconds until it may post again. The in-flight cap
protects everyone else when *many* well-behaved clients post at once: every intake request holds a database
connection for its transaction, and without a cap they would take the whole pool, so the map wall's reads
would queue behind them. Past the cap an intake request is refused at once with ``503 overloaded`` and
``Retry-After`` (nothing written, safe to retry with the same Idempotency-Key).

Both live in the process: with several uvicorn workers or hosts each enforces its own share (a key may post
``workers x rate``). That is deliberate: intake must never depend on a second service (Redis) being up, and
a per-process bound is what protects the process's own connection pool. Written here rather than taken
from ``limits``/``slowapi`` because the bucket is twenty lines and those bring storage back-ends, decorators
keyed on the client address and their own error format, while this needs the principal and problem+json.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import OrderedDict

from api.core.errors import Overloaded, RateLimited


class TokenBucket:
    """Buckets per key: ``rate`` tokens a second up to ``burst``; each request takes one.

    >>> b = TokenBucket(rate=1.0, burst=2, clock=lambda: 0.0)
    >>> [b.take("k") for _ in range(3)]
    [0.0, 0.0, 1.0]
    """

    def __init__(self, *, rate: float, burst: int, max_keys: int = 100_000, clock=time.monotonic) -> None:
        self.rate = float(rate)
        self.burst = max(1, int(burst))
        self.max_keys = max_keys
        self._clock = clock
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take a token for ``key``: 0.0 when granted, else the seconds until one is available."""
        now = self._clock()
        with self._lock:
            tokens, at = self._state.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._state[key] = (tokens, now)  # most recently used last
            while len(self._state) > self.max_keys:  # bounded memory: forget the longest idle
                self._state.popitem(last=False)
            return wait

    def check(self, key: str) -> None:
        """Raise :class:`RateLimited` (429 with ``Retry-After``) when ``key`` has no token left."""
        if self.rate <= 0:
            return
        wait = self.take(key)
        if wait > 0:
            err = RateLimited(f"more than {self.rate:g} requests a second (burst {self.burst}) from this key; "
                              f"retry after {math.ceil(wait)} s", limit_per_second=self.rate, burst=self.burst)
            err.retry_after = math.ceil(wait)
            raise err


class InflightLimit:
    """At most ``limit`` intake requests at once in this process; a request that cannot get a slot within
    ``wait_s`` is refused with :class:`Overloaded` rather than queued without bound."""

    def __init__(self, limit: int, *, wait_s: float = 0.5) -> None:
        self.limit = limit
        self.wait_s = wait_s
        self._sem: asyncio.Semaphore | None = None
        self.inflight = 0

    def _semaphore(self) -> asyncio.Semaphore:
        if self._sem is None:  # created on first use, inside the server's event loop
            self._sem = asyncio.Semaphore(self.limit)
        return self._sem

    async def acquire(self) -> None:
        if self.limit <= 0:
            return
        try:
            await asyncio.wait_for(self._semaphore().acquire(), timeout=self.wait_s)
        except TimeoutError:
            raise Overloaded(f"more than {self.limit} intake requests in flight; retry shortly",
                             limit=self.limit) from None
        self.inflight += 1

    def release(self) -> None:
        if self.limit <= 0:
            return
        self.inflight -= 1
        self._semaphore().release()

"""A lean HTTP/1.1 load generator for the loopback benchmarks: open loop at a fixed rate, or closed loop.

Why not ``hey`` alone: ``hey -c 20 -q 50`` gives each of its 20 workers a 50/s ticker, and the tickers start
together, so "1,000 req/s" arrives as a burst of 20 requests every 20 ms. Queued behind each other on a
one-process server, the last of every burst waits for the 19 before it: the p99 then measures the burst
size times the service time, not the server under 1,000 req/s. And a closed-loop worker that waits for a slow
answer simply sends less (coordinated omission), which hides stalls. Why not httpx: about 0.5–1 ms of client
CPU per request, on a machine whose two cores the server and PostgreSQL need.

So this generator, in one asyncio loop (uvloop when installed):

- **open loop** (``rate``): request *i* is due at ``t0 + i / rate`` (evenly spaced; ``poisson=True`` draws
  exponential gaps instead, seeded). It goes out on an idle keep-alive connection, or a new one (up to
  ``connections``); if every connection is busy it waits for one. Its latency is measured from when it was
  *due*, not when it went out, so a stalled server or a late generator shows in the percentiles instead of
  thinning the load (the correction wrk2 makes).
- **closed loop** (``rate=None``): ``connections`` workers send back to back; the figure is throughput.

Requests are pre-encoded bytes (a list cycled through, e.g. many report bodies), so the per-request cost is a
socket write and a parse of the status line and ``Content-Length`` (chunked bodies are read too).

    python -m bench.loadgen http://127.0.0.1:8000/api/v1/locate?lon=116.39&lat=39.9 \
        --rate 1000 --seconds 10 -H "Authorization: Bearer gm_..."
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np


def encode(method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes | None = None) -> bytes:
    """One HTTP/1.1 keep-alive request as bytes."""
    u = urlsplit(url)
    target = (u.path or "/") + (f"?{u.query}" if u.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {u.netloc}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def report_requests(base: str, headers: dict[str, str], points: np.ndarray, categories: Sequence[str],
                    rng: np.random.Generator, n: int) -> list[bytes]:
    """``n`` encoded ``POST /api/v1/reports`` requests near random sample points (±50 m noise), each with a random
    category: the body the intake benches send (bench/routing.py's HTTP intake, bench/outbox.py)."""
    import orjson

    out = []
    for _ in range(n):
        i = int(rng.integers(0, len(points)))
        body = {"source": "bench", "category": categories[int(rng.integers(0, len(categories)))],
                "description": "bench", "lon": float(points[i, 0] + rng.normal(0, 0.0005)),
                "lat": float(points[i, 1] + rng.normal(0, 0.0005))}
        out.append(encode("POST", base + "/api/v1/reports", headers=headers, body=orjson.dumps(body)))
    return out


@dataclass
class Result:
    """Latencies in seconds (from each request's due time in open loop), statuses and what was achieved."""

    mode: str
    offered_rps: float | None
    seconds: float
    latencies: np.ndarray
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    connections_used: int = 0
    #: Open loop: how late the generator itself sent requests (due → written), p99 in ms; a large value means
    #: the generator, not the server, fell behind (the machine is saturated).
    send_lag_p99_ms: float | None = None
    #: CPU seconds the generator itself used (its share of a shared machine).
    client_cpu_s: float | None = None
    #: Latencies from when each request was actually written (what hey and most tools report): the server and
    #: the network alone, without the generator's own lateness.
    wire: np.ndarray | None = None

    @property
    def completed(self) -> int:
        return int(self.latencies.size)

    @property
    def rps(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def ms(self, q: float) -> float | None:
        return round(float(np.percentile(self.latencies, q)) * 1000, 2) if self.latencies.size else None

    def summary(self) -> dict:
        return {"mode": self.mode, "offered_rps": self.offered_rps, "achieved_rps": round(self.rps, 1),
                "completed": self.completed, "seconds": round(self.seconds, 2),
                "p50_ms": self.ms(50), "p90_ms": self.ms(90), "p99_ms": self.ms(99), "p999_ms": self.ms(99.9),
                "max_ms": round(float(self.latencies.max()) * 1000, 2) if self.latencies.size else None,
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())}, "errors": self.errors,
                "connections_used": self.connections_used, "send_lag_p99_ms": self.send_lag_p99_ms,
                "client_cpu_s": self.client_cpu_s,
                "wire_p50_ms": self._wire(50), "wire_p99_ms": self._wire(99), "wire_p999_ms": self._wire(99.9)}

    def _wire(self, q: float) -> float | None:
        w = self.wire
        return round(float(np.percentile(w, q)) * 1000, 2) if w is not None and w.size else None


class _Conn(asyncio.Protocol):
    """One keep-alive connection: writes a request, parses the answer in ``data_received`` and reports it to
    its owner. No task or future per request: at 1,000 req/s the generator must cost the server little."""

    def __init__(self, owner: _Driver) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.due = self.sent = 0.0
        self.busy = False
        self.status = 0
        self.need = -1  # body bytes still to read; -1 while the head is incomplete; -2 chunked

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.owner.ready(self)

    def send(self, request: bytes, due: float) -> None:
        self.due, self.busy, self.need, self.status = due, True, -1, 0
        self.buf.clear()
        self.sent = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.busy:
            if self.need == -1:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(self.buf[:end])
                del self.buf[:end + 4]
                self.status = int(head[9:12])
                self.need = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        self.need = int(value)
                    elif name == b"transfer-encoding" and b"chunked" in value.lower():
                        self.need = -2
            if self.need == -2:  # chunked: complete once the zero-length chunk and its CRLF are in
                if not self._chunked_done():
                    return
                self.need = 0
                self.buf.clear()
            if len(self.buf) < self.need:
                return
            del self.buf[:self.need]
            self.busy = False
            self.owner.done(self, self.status, self.due, self.sent)

    def _chunked_done(self) -> bool:
        pos = 0
        while True:
            eol = self.buf.find(b"\r\n", pos)
            if eol < 0:
                return False
            size = int(bytes(self.buf[pos:eol]).split(b";")[0], 16)
            pos = eol + 2 + size + 2
            if len(self.buf) < pos:
                return False
            if size == 0:
                return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.owner.lost(self, exc)


class _Driver:
    """Hands due requests to idle connections, opens more up to the limit, queues the rest (their latency still
    counts from when they were due), and records every answer."""

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str, port: int, requests: Sequence[bytes],
                 connections: int, closed: bool) -> None:
        self.loop, self.host, self.port = loop, host, port
        self.requests, self.n = list(requests), len(requests)
        self.connections, self.closed = connections, closed
        self.idle: list[_Conn] = []
        self.opened = 0
        self.backlog: deque[tuple[int, float]] = deque()
        self.latencies: list[float] = []
        self.wire: list[float] = []
        self.lags: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors: dict[str, int] = {}
        self.next_i = 0
        self.stop_at = float("inf")
        self.outstanding = 0
        self.draining = False  # nothing more will be submitted: the last answer resolves ``all_done``
        self.all_done = loop.create_future()

    def submit(self, i: int, due: float) -> None:
        self.outstanding += 1
        if self.idle:
            self._send(self.idle.pop(), i, due)
        else:
            self.backlog.append((i, due))
            if self.opened < self.connections:
                self.opened += 1
                self.loop.create_task(self._open())

    async def _open(self) -> None:
        try:
            await self.loop.create_connection(lambda: _Conn(self), self.host, self.port)
        except OSError as exc:
            self.opened -= 1
            self._error(exc)
            if self.backlog:
                self.backlog.popleft()
                self._finish_one()
            return

    def _send(self, conn: _Conn, i: int, due: float) -> None:
        self.lags.append(time.perf_counter() - due)
        conn.send(self.requests[i % self.n], due)

    def ready(self, conn: _Conn) -> None:
        if self.backlog:
            self._send(conn, *self.backlog.popleft())
        elif self.closed and time.perf_counter() < self.stop_at:
            self._send(conn, self.next_i, time.perf_counter())
            self.next_i += 1
            self.outstanding += 1
        else:
            self.idle.append(conn)

    def done(self, conn: _Conn, status: int, due: float, sent: float) -> None:
        now = time.perf_counter()
        self.latencies.append(now - due)
        self.wire.append(now - sent)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self._finish_one()
        self.ready(conn)

    def lost(self, conn: _Conn, exc: Exception | None) -> None:
        self.opened -= 1
        if conn in self.idle:
            self.idle.remove(conn)
        if conn.busy:
            self._error(exc or ConnectionResetError("closed by the server"))
            self._finish_one()
        if self.backlog and self.opened < self.connections:  # queued requests need a connection to go out on
            self.opened += 1
            self.loop.create_task(self._open())

    def _error(self, exc: BaseException) -> None:
        name = type(exc).__name__
        self.errors[name] = self.errors.get(name, 0) + 1

    def _finish_one(self) -> None:
        self.outstanding -= 1
        if self.outstanding <= 0 and self.draining and not self.all_done.done():
            self.all_done.set_result(None)


async def _run(host: str, port: int, requests: Sequence[bytes], *, rate: float | None, seconds: float,
               connections: int, poisson: bool, seed: int, timeout: float) -> Result:
    loop = asyncio.get_running_loop()
    clock = time.perf_counter
    drv = _Driver(loop, host, port, requests, connections, closed=rate is None)
    cpu0 = time.process_time()
    t0 = clock() + 0.05
    drv.stop_at = t0 + seconds
    if rate is None:  # closed loop: every connection sends back to back until the deadline
        await asyncio.sleep(max(0.0, t0 - clock()))
        for _ in range(connections):
            drv.submit(drv.next_i, clock())
            drv.next_i += 1
    else:
        rng = np.random.default_rng(seed)
        n = int(rate * seconds)
        gaps = rng.exponential(1.0 / rate, n) if poisson else np.full(n, 1.0 / rate)
        dues = (t0 + np.concatenate([[0.0], np.cumsum(gaps[:-1])])).tolist()
        i = 0
        while i < n:
            now = clock()
            while i < n and dues[i] <= now:  # everything due by now goes out (a late wake-up sends a few)
                drv.submit(i, dues[i])
                i += 1
            if i < n:  # at least a millisecond: the loop's timers have that resolution (a shorter sleep spins)
                await asyncio.sleep(max(0.001, dues[i] - clock()))
    while clock() < drv.stop_at:  # (a timer may fire a fraction of a millisecond early)
        await asyncio.sleep(max(0.001, drv.stop_at - clock()))
    drv.draining = True  # and closed-loop connections send no more: the clock has passed stop_at
    if drv.outstanding > 0:
        try:
            await asyncio.wait_for(asyncio.shield(drv.all_done), timeout)
        except TimeoutError:
            drv.errors["TimeoutError"] = drv.errors.get("TimeoutError", 0) + drv.outstanding
    elapsed = max(clock(), drv.stop_at) - t0 if rate else clock() - t0
    used = drv.opened
    for conn in drv.idle:
        if conn.transport is not None:
            conn.transport.close()
    lag = round(float(np.percentile(drv.lags, 99)) * 1000, 2) if drv.lags and rate else None
    return Result("open" if rate else "closed", rate, elapsed, np.asarray(drv.latencies, dtype=float),
                  drv.statuses, drv.errors, used, lag, round(time.process_time() - cpu0, 2),
                  np.asarray(drv.wire, dtype=float))


def run(url: str, requests: Sequence[bytes], *, rate: float | None, seconds: float, connections: int = 64,
        poisson: bool = False, seed: int = 1, timeout: float = 30.0) -> Result:
    """Drive ``requests`` (pre-encoded with :func:`encode`, cycled) at the host and port of ``url``.

    ``rate``: requests per second, open loop (see the module docstring); ``None``: closed loop with
    ``connections`` workers."""
    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    coro = _run(host, port, list(requests), rate=rate, seconds=seconds, connections=connections,
                poisson=poisson, seed=seed, timeout=timeout)
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        runner = asyncio.run
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop in this thread: the usual case
        return runner(coro)
    # Called where an event loop already runs in this thread (Playwright's sync API leaves one in a test process):
    # drive ours on a thread of its own rather than fail.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(runner, coro).result()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("--rate", type=float, help="requests per second, open loop (default: closed loop)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--poisson", action="store_true", help="exponential gaps instead of even spacing")
    ap.add_argument("-m", "--method", default="GET")
    ap.add_argument("-d", "--data", help="request body (sent with Content-Type: application/json)")
    ap.add_argument("-H", "--header", action="append", default=[], help="'Name: value', repeatable")
    a = ap.parse_args(argv)
    headers = dict(h.split(":", 1) for h in a.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    body = a.data.encode() if a.data is not None else None
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    req = encode(a.method, a.url, headers=headers, body=body)
    print(json.dumps(run(a.url, [req], rate=a.rate, seconds=a.seconds, connections=a.connections,
                         poisson=a.poisson).summary(), indent=1))


if __name__ == "__main__":
    main()

"""The load generator behind the HTTP benchmarks counts what a real server answered: every request, its status,
answers with a length and chunked ones, in open and closed loop, and errors when the server hangs up."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from bench import loadgen


class _Server:
    """A tiny keep-alive HTTP/1.1 server on loopback: /ok has a Content-Length, /chunked is chunked in
    several pieces (written separately), /teapot is a 418, /bye closes the connection without answering."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.seen = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(5)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    self.seen += 1
                    path = head.split(b" ")[1]
                    if path == b"/bye":
                        writer.close()
                        return
                    if path == b"/chunked":
                        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
                        await writer.drain()
                        writer.write(b"6\r\n world\r\n0\r\n\r\n")
                    elif path == b"/teapot":
                        writer.write(b"HTTP/1.1 418 I'm a teapot\r\nContent-Length: 3\r\n\r\ntea")
                    else:
                        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        async def start() -> None:
            self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.close()


def test_open_loop_sends_every_request_due_and_reads_each_kind_of_answer(server: _Server) -> None:
    base = f"http://127.0.0.1:{server.port}"
    reqs = [loadgen.encode("GET", f"{base}{p}") for p in ("/ok", "/chunked", "/teapot", "/ok")]
    r = loadgen.run(base, reqs, rate=400, seconds=1.0, connections=8)
    assert r.completed == 400 and server.seen == 400
    assert r.statuses == {200: 300, 418: 100}
    assert not r.errors
    assert r.latencies.size == r.wire.size == 400 and (r.latencies >= r.wire - 1e-9).all()
    s = r.summary()
    assert s["mode"] == "open" and s["p99_ms"] is not None and s["connections_used"] <= 8


def test_closed_loop_keeps_every_connection_busy_until_the_deadline(server: _Server) -> None:
    base = f"http://127.0.0.1:{server.port}"
    r = loadgen.run(base, [loadgen.encode("POST", f"{base}/ok", body=b'{"a": 1}')], rate=None, seconds=0.5,
                    connections=3)
    assert r.mode == "closed" and r.completed == server.seen > 3
    assert r.statuses == {200: r.completed} and r.connections_used == 3


def test_a_server_hanging_up_is_counted_as_an_error_not_lost(server: _Server) -> None:
    base = f"http://127.0.0.1:{server.port}"
    reqs = [loadgen.encode("GET", f"{base}/ok"), loadgen.encode("GET", f"{base}/bye")]
    r = loadgen.run(base, reqs, rate=100, seconds=0.5, connections=4, timeout=5)
    assert r.completed + sum(r.errors.values()) == 50
    assert r.statuses == {200: 25} and sum(r.errors.values()) == 25

"""A real uvicorn on a given database, for browser tests and HTTP benchmarks (which need a separate
process: LISTEN/NOTIFY, SSE and a load generator all want a real socket)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from api.core.config import ROOT


class LiveServer:
    """Start ``uvicorn api.main:app`` on a free loopback port against ``database_url``; wait for /healthz.

    Use as a context manager, or call :meth:`close`. ``base`` is the server's URL. ``workers`` > 1 runs that many
    worker processes behind the one port, as `make run WORKERS=n` does.
    """

    def __init__(self, database_url: str, *, log_path: Path, timeout: float = 60.0, port: int | None = None,
                 env: dict[str, str] | None = None, append_log: bool = False, workers: int = 1) -> None:
        if port is None:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(log_path, "a" if append_log else "w")  # closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port),
             "--no-access-log", "--log-level", "warning", *(["--workers", str(workers)] if workers > 1 else [])],
            cwd=ROOT, env={**os.environ, **(env or {}), "GRIDMAP_DATABASE_URL": database_url},
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"live server did not start; see {log_path}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a power cut would: no shutdown, in-flight requests cut off."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

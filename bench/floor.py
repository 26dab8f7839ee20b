"""The smallest ASGI app: a constant JSON answer, nothing else. Served by the same uvicorn under the same load, it
measures what the machine and the server allow at all (``http_floor_*`` in bench/results.json): on a shared
2-core machine, wake-ups and the generator's own scheduling put a floor under any p99, which gridmap's figures
are read against."""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

_BODY = b'{"ok":true}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})

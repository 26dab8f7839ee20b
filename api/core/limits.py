"""Request size limit: a body over ``GRIDMAP_MAX_BODY_BYTES`` is refused with 413 problem+json before it
is read into memory, whether the client declares its length or streams it chunked."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.core.errors import GridmapError, problem_response


class PayloadTooLarge(GridmapError):
    status, code, title = 413, "payload_too_large", "Request body too large"


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        err = PayloadTooLarge(f"the body is larger than {limit:,} bytes; send fewer points or split the file",
                              limit=limit)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await problem_response(err)(scope, receive, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await problem_response(err)(scope, receive, send)


class _TooLarge(Exception):
    pass

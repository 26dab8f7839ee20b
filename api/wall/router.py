from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import text
from sse_starlette.sse import EventSourceResponse

from api.auth.deps import WallReader
from api.auth.service import off_auth_change, on_auth_change
from api.core.deps import SessionDep, SettingsDep
from api.core.errors import InvalidParameter, ServiceUnavailable
from api.core.geojson import parse_bbox
from api.core.params import IdPath, IdQuery
from api.wall import exports, service
from api.wall.exports import XLSX
from api.wall.filters import Filters, parse_filters
from api.wall.heat import MAX_CELLS, heat_bins
from api.wall.stream import CHANNEL, REVOKED, Hub, StreamHolder, check_ticket, issue_ticket, replay_after


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    hub = app.state.wall_hub = Hub(asyncio.get_running_loop())
    on_auth_change(hub.on_auth)  # a revoked credential's open streams end (api/auth/service.py)
    listener = app.state.listener if app.state.settings.listen else None
    if listener is not None:
        listener.subscribe(CHANNEL, hub.on_notice)
    try:
        yield
    finally:
        off_auth_change(hub.on_auth)
        if listener is not None:
            listener.unsubscribe(CHANNEL, hub.on_notice)


#: The wall shows every grid's cases (with case details), so it is for the command centre and planners;
#: grid workers see their own grids' cases through /api/v1/cases (issue 6's worker scope).
router = APIRouter(prefix="/wall", tags=["wall"], lifespan=lifespan)

Window = Annotated[str | None, Query(description="1h, 24h, today, 7d, 30d or custom (then since and until); "
                                     "none: the deployment's default (GRIDMAP_WALL_DEFAULT_WINDOW, 24h)")]
Since = Annotated[str | None, Query(description="custom window start, ISO 8601 (Beijing time without offset)")]
Until = Annotated[str | None, Query(description="custom window end (exclusive)")]
Category = Annotated[str | None, Query(description="category codes, comma-separated")]
Status = Annotated[str | None, Query(description="case statuses, comma-separated")]
Source = Annotated[str | None, Query(description="report sources, comma-separated")]


def _json(body: object) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def wall_filters(settings: SettingsDep, window: Window = None, since: Since = None, until: Until = None,
                 category: Category = None, status: Status = None, source: Source = None) -> Filters:
    """The wall's filters from the query, the window defaulting to the deployment's."""
    return parse_filters(window=window or settings.wall_default_window, since=since, until=until,
                         category=category, status=status, source=source)


WallFilters = Annotated[Filters, Depends(wall_filters)]
ListKind = Annotated[Literal["overdue", "escalated", "open", "cases"], Path(
    description="overdue, escalated, open (open cases) or cases (reported in the window); all under the filters")]


@router.get("/heatmap")
def heatmap(
    session: SessionDep, _: WallReader,
    bbox: Annotated[str, Query(description="minLon,minLat,maxLon,maxLat (WGS84)")],
    zoom: Annotated[float, Query(ge=0, le=24, description="the map zoom; bins are sized to it")],
    f: WallFilters, max_cells: Annotated[int, Query(ge=1, le=MAX_CELLS)] = MAX_CELLS,
) -> Response:
    """Cases binned in Web Mercator cells sized to the zoom (`cells`: [lon, lat, count] of each cell's
    centre), never more than `max_cells` (20,000) per view; counts are exact for the window and filters."""
    box = parse_bbox(bbox)
    if box is None:  # `bbox=` (empty) parses as "no bbox", which the heatmap cannot do without
        raise InvalidParameter("bbox is required: minLon,minLat,maxLon,maxLat", field="bbox")
    return _json(heat_bins(session, f, box, zoom, max_cells))


@router.get("/summary")
def summary(session: SessionDep, settings: SettingsDep, _: WallReader, f: WallFilters) -> Response:
    """Totals (new in the window, open, overdue, escalated, closed in the window), a trend series, the grids
    with the most open cases, and the first overdue and escalated cases (all of them: /wall/lists/{kind})."""
    return _json(service.summary(session, f, settings))


@router.get("/lists/{kind}")
def case_list(session: SessionDep, _: WallReader, kind: ListKind, f: WallFilters,
              limit: Annotated[int, Query(ge=1, le=500)] = 50,
              offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> Response:
    """One page of a case list with its `total` (the wall pages through all overdue or escalated cases)."""
    return _json(service.case_page(session, f, kind=kind, limit=limit, offset=offset))


@router.get("/export/{kind}.{fmt}", responses={200: {"content": {"text/csv": {}, XLSX: {}}}})
def export(request: Request, session: SessionDep, _: WallReader, kind: ListKind, f: WallFilters,
           fmt: Annotated[Literal["csv", "xlsx"], Path(description="csv (UTF-8 with BOM) or xlsx")],
           lang: Annotated[Literal["zh-CN", "en"], Query(description="language of the headings")] = "zh-CN",
           ) -> Response:
    """A case list as CSV or XLSX, every row (up to 100,000), the filters and the moment written at the top."""
    return exports.export(session, f, kind=kind, fmt=fmt, lang=lang, web_dir=request.app.state.settings.web_dir)


@router.get("/grids")
def grid_metrics(
    session: SessionDep, _: WallReader,
    layout: IdQuery = None, category: Category = None, source: Source = None,
) -> Response:
    """Per grid: open cases, new cases today (Beijing day), overdue open cases — for the choropleths."""
    f = parse_filters(window="today", since=None, until=None, category=category, status=None, source=source)
    return _json(service.grid_metrics(session, f, layout))


@router.get("/grids/{code}/cases")
def grid_cases(session: SessionDep, _: WallReader, code: str,
               limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Response:
    """Open cases of one grid, the most urgent deadline first."""
    f = parse_filters(window="today", since=None, until=None, category=None, status=None, source=None)
    return _json({"grid_code": code, "items": service.case_list(session, f, kind="open", limit=limit, grid=code)})


@router.get("/cases/{case_id}")
def case_detail(session: SessionDep, _: WallReader, case_id: IdPath) -> Response:
    """One case: category, grid, deadline, its report (reporter masked) and its event log."""
    return _json(service.case_detail(session, case_id))


@router.get("/replay")
def replay(
    session: SessionDep, _: WallReader,
    day: Annotated[str, Query(description="a Beijing date, YYYY-MM-DD")],
    category: Category = None, status: Status = None, source: Source = None,
) -> Response:
    """The located reports of one day in time order (seconds after midnight, lon, lat, category), for the
    replay slider; at most 20,000 (`truncated` says when there were more)."""
    f = parse_filters(window="today", since=None, until=None, category=category, status=status, source=source)
    return _json(service.replay(session, day, f))


@router.post("/stream/ticket")
def stream_ticket(request: Request, session: SessionDep, principal: WallReader) -> Response:
    """A 60-second, single-use ticket for opening the event stream (EventSource cannot send an Authorization
    header)."""
    return _json(issue_ticket(session, principal, getattr(request.state, "token_digest", None)))


@router.get("/stream")
async def stream(
    request: Request,
    ticket: Annotated[str | None, Query()] = None,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="the last report id this client saw: "
                                       "reports received since are replayed first")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> EventSourceResponse:
    """Server-sent events: `hello` first (`last_id`: the newest report id when it opened), `report` (the intake
    notice: id, case_id, lon, lat, grid, method, category,
    source, reported_at, notified_at in ms) for every new report, `resync` when notices may have been
    missed, and a comment ping every 15 s. Open with `?ticket=` from POST /wall/stream/ticket.

    A client that reconnects says what it saw last (`?after=<report id>`, or the `Last-Event-ID` header that
    EventSource sends on its own reconnects): the reports received since (up to the last
    10 minutes, at most 1,000) come first, marked `"replayed": true`, so a dropped
    connection loses no pulse; when more were missed than that, a `resync` tells it to reload instead."""
    def _check() -> StreamHolder:
        with request.app.state.sessionmaker() as session:
            return check_ticket(session, ticket)

    holder = await run_in_threadpool(_check)
    hub: Hub | None = getattr(request.app.state, "wall_hub", None)
    if hub is None:
        raise ServiceUnavailable("the live stream is not running")
    since = after if after is not None else (int(last_event_id) if (last_event_id or "").isdigit() else None)
    queue = hub.subscribe(holder)  # before reading the missed reports, so that nothing falls between the two

    def _missed() -> list[dict] | None:
        with request.app.state.sessionmaker() as session:
            return replay_after(session, since)

    def _last_id() -> int | None:
        with request.app.state.sessionmaker() as session:
            return session.execute(text("SELECT max(id) FROM report")).scalar()

    async def events() -> AsyncIterator[dict]:
        try:
            # `last_id`: where a client that has seen no report yet resumes from after a drop (?after=).
            last = since if since is not None else await run_in_threadpool(_last_id)
            yield {"event": "hello", "data": orjson.dumps({"subscribers": hub.subscribers, "last_id": last}).decode()}
            seen: set[str] = set()
            if since is not None:
                missed = await run_in_threadpool(_missed)
                if missed is None:
                    yield {"event": "resync", "data": "{}"}
                for ev in missed or []:
                    seen.add(ev["id"])
                    yield ev
            while True:
                ev = await queue.get()
                if ev is REVOKED:  # the credential was revoked: say so and end the stream
                    yield ev
                    return
                if seen and ev.get("id") in seen:  # announced live while we read it from the table
                    continue
                yield ev
        finally:
            hub.unsubscribe(queue)

    return EventSourceResponse(events(), ping=15, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

"""The FastAPI application: JSON API under /api/v1, health check, and the web front end at /."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from api.addresses.router import router as addresses_router
from api.areas.router import router as areas_router
from api.audit.router import router as audit_router
from api.audit.service import AuditMiddleware, audit_prepare, record_many
from api.auth.router import router as keys_router
from api.auth.service import AUTH_CHANNEL, on_auth_notice
from api.buildings.router import router as buildings_router
from api.calendar.router import router as calendar_router
from api.cases.router import router as cases_router
from api.core.batch import BatchWriter
from api.core.config import Settings, get_settings
from api.core.db import make_engine, make_sessionmaker
from api.core.errors import ServiceUnavailable, install_error_handlers, problem_response
from api.core.limits import BodyChecks, BodySizeLimit
from api.core.notify import Listener, Notifier
from api.core.observe import ObserveMiddleware, configure_logging, metrics_endpoint
from api.core.openapi import install_openapi
from api.core.ratelimit import InflightLimit, TokenBucket
from api.coverage.router import router as coverage_router
from api.docs.router import overview as docs_overview
from api.docs.router import router as docs_router
from api.evaluation.router import router as evaluation_router
from api.facilities.router import router as facilities_router
from api.grids.router import router as grids_router
from api.locate.fast import LocateFastPath
from api.locate.index import IndexCache
from api.locate.router import router as locate_router
from api.media.router import router as media_router
from api.media.storage import make_storage
from api.ogc.router import router as ogc_router
from api.open311.router import router as open311_router
from api.ops.due import DueWork
from api.people.router import router as people_router
from api.planner.router import router as planner_router
from api.proposals.router import router as proposals_router
from api.reports.fast import IntakeFastPath
from api.reports.router import router as reports_router
from api.reports.service import write_batch
from api.roads.router import router as roads_router
from api.tiles.router import router as tiles_router
from api.users.router import router as users_router
from api.wall.router import router as wall_router
from api.webhooks.events import CHANNEL as WEBHOOK_CHANNEL
from api.webhooks.router import router as webhooks_router
from api.webhooks.worker import DeliveryWorker

log = logging.getLogger("gridmap")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_format, settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        cache = app.state.index_cache = IndexCache()
        notifier = app.state.notifier = Notifier(engine)
        notifier.start()
        due = app.state.due = DueWork(app.state.sessionmaker, interval=settings.due_interval_s,
                                   heat_hourly_days=settings.heat_hourly_days)
        due.start()
        # Webhooks (issue 19): this process's delivery worker, sharing the queue with every other process's.
        webhooks = app.state.webhooks = DeliveryWorker(app.state.sessionmaker, settings) \
            if settings.webhook_worker else None
        if webhooks is not None:
            webhooks.start()
        # The process's one LISTEN connection (api/core/notify.py): the routers subscribe their channels too.
        listener = app.state.listener = Listener(engine)
        if settings.listen:
            cache.listen(listener)
            # Revocations and scope changes from any process (api/auth/service.py AUTH_CHANNEL) empty this
            # process's credential caches and end the revoked principal's open streams at once; the same LISTEN
            # connection wakes the webhook worker when a transaction wrote deliveries.
            listener.subscribe(AUTH_CHANNEL, on_auth_notice)
            if webhooks is not None:
                listener.subscribe(WEBHOOK_CHANNEL, webhooks.wake)
        # Everything loaded so far (FastAPI, pydantic, numpy, shapely, the routes) lives as long as the process.
        # Left in the collector's generations, it made each full collection take ~200 ms (measured, 220k
        # objects): a pause that every request in flight waits for, the p99 of GET /locate. Frozen, the
        # collector skips it; IndexCache freezes each routing index it builds the same way (issue 4).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            app.state.intake_writer.stop()
            app.state.audit_writer.stop()
            gc.unfreeze()  # a process that creates apps again and again (the tests) must not keep them all
            due.stop()
            listener.stop()
            if webhooks is not None:
                webhooks.stop()
            notifier.stop()
            engine.dispose()

    app = FastAPI(
        title="gridmap",
        summary="Grid-based community governance: grids, buildings, routing and coverage (网格化基层治理)",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # /api/docs and /redoc come from vendored assets (api/docs/router.py)
        redoc_url=None,
        description=docs_overview(),
        openapi_url="/api/v1/openapi.json",
        # FastAPI's own OpenTelemetry hooks: gridmap reports through Prometheus (/metrics, api/core/observe.py),
        # and the hooks' per-request check of the global providers was a tenth of a located point's cost.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.media_storage = make_storage(settings)  # photos (issue 18): a directory or an S3 bucket
    app.state.intake_bucket = TokenBucket(rate=settings.intake_rate, burst=settings.intake_burst)
    # Group commit (api/core/batch.py): intake's transactions run on ``intake_writers`` connections whatever the
    # number of clients, so the map wall's reads keep the rest of the pool, the threadpool and PostgreSQL's CPU.
    app.state.intake_writer = BatchWriter("intake", max_batch=settings.intake_batch_max,
                                          threads=settings.intake_writers, bulk=write_batch)
    app.state.audit_writer = BatchWriter("audit", max_batch=256, isolate=False, prepare=audit_prepare,
                                         bulk=record_many)
    app.state.intake_inflight = InflightLimit(settings.intake_max_inflight, wait_s=settings.intake_queue_wait_s)
    install_error_handlers(app)
    install_openapi(app)  # the errors declared per operation, parameter rules, tags (issue 17)
    app.add_middleware(IntakeFastPath)  # POST /reports past the router once it has answered (issue 4)
    app.add_middleware(BodyChecks, max_json_depth=settings.max_json_depth)  # JSON depth, form charset (issue 17)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(AuditMiddleware)  # every write request → audit_log (issue 6)
    app.add_middleware(LocateFastPath)  # GET /locate answered from memory past the router (issue 4)
    # Outermost: metrics and the request log see every answer (issue 9).
    app.add_middleware(ObserveMiddleware, log_sample=settings.log_sample, log_slow_ms=settings.log_slow_ms)
    if settings.metrics:
        app.add_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)

    v1 = APIRouter(prefix="/api/v1")
    v1.include_router(planner_router)  # issue 8; first, so that /layouts/compare is not read as /layouts/{id}
    for r in (areas_router, grids_router, buildings_router, facilities_router, locate_router, reports_router,
              keys_router, tiles_router, wall_router):
        v1.include_router(r)
    v1.include_router(coverage_router)
    v1.include_router(addresses_router)  # issue 10
    for r in (cases_router, people_router, users_router, audit_router):  # issue 6
        v1.include_router(r)
    v1.include_router(media_router)  # issue 18
    v1.include_router(calendar_router)  # issue 19: the working calendar
    v1.include_router(proposals_router)  # issue 20
    v1.include_router(evaluation_router)  # issue 19: follow-up and evaluation (考核评价)
    v1.include_router(webhooks_router)  # issue 19: pushing events out
    v1.include_router(roads_router)  # issue 20: roads and network catchments
    app.include_router(v1)
    app.include_router(open311_router)
    app.include_router(docs_router)
    app.include_router(ogc_router)  # OGC API Features and Tiles (issue 23)

    @app.get("/healthz", tags=["health"])
    def healthz(request: Request) -> JSONResponse:
        """Liveness and database readiness (no key needed): 200 when PostGIS answers, else 503."""
        try:
            with request.app.state.engine.connect() as conn:
                postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
                revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except Exception as exc:  # any database failure means "not ready"
            log.warning("health check failed: %s", exc)
            return problem_response(ServiceUnavailable("the database is not reachable"), request)
        return JSONResponse({"status": "ok", "database": "ok", "postgis": postgis, "schema": revision})

    # The front end last, so that /api and /healthz win.
    app.mount("/", StaticFiles(directory=settings.web_dir, html=True, check_dir=False), name="web")
    return app


app = create_app()

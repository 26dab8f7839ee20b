"""Settings, read once from the environment (prefix ``GRIDMAP_``).

``DATABASE_URL`` is also honoured without the prefix because that is the name every PostgreSQL
host, CI service and PaaS already sets; ``make run``/``make test`` use it to switch from the
project-local cluster to an existing PostGIS server.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[2]
#: The project-local cluster's port (scripts/pg.sh reads the same variable).
LOCAL_PG_PORT = int(os.environ.get("GRIDMAP_PG_PORT", "54329"))
LOCAL_DATABASE_URL = f"postgresql+psycopg://gridmap@127.0.0.1:{LOCAL_PG_PORT}/gridmap"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", extra="ignore")

    @field_validator("wall_default_window")
    @classmethod
    def _known_window(cls, v: str) -> str:
        from api.wall.filters import WINDOWS  # the one list of windows; imported late (no cycle at import)

        if v not in WINDOWS or v == "custom":
            raise ValueError(f"must be one of {', '.join(w for w in WINDOWS if w != 'custom')}")
        return v

    database_url: str = Field(
        default=LOCAL_DATABASE_URL,
        validation_alias=AliasChoices("GRIDMAP_DATABASE_URL", "DATABASE_URL"),
    )
    data_dir: Path = ROOT / ".data"
    web_dir: Path = ROOT / "web"
    #: Hard ceiling on a page of features: keeps a single request's memory bounded.
    max_page_size: int = 10_000
    default_page_size: int = 1_000
    #: Households per grid regarded as a normal workload. 300-500 is the norm most city
    #: guidelines cite for urban community grids (e.g. Beijing's 2019 grid guideline).
    households_norm_min: int = 300
    households_norm_max: int = 500
    #: Server-side statement timeout (ms) so no query can hold a connection for ever.
    statement_timeout_ms: int = 30_000
    db_pool_size: int = 10
    #: A point outside every grid but within this distance goes to the nearest grid (method
    #: ``nearest``); beyond it the report is ``unrouted`` (kept, flagged, queued).
    routing_tolerance_m: float = 50.0
    #: Seconds between two rounds of the due-work thread (api/ops/due.py: a layout published for a future date
    #: comes in force: the old one retired, staff moved, open cases re-routed); 0 turns the thread off.
    due_interval_s: float = Field(default=60.0, ge=0, le=3600)
    #: Days of hourly heat roll-ups kept (migration 0011): the partial days at a wall window's edges inside them
    #: are read from the hourly roll-ups, older ones from the raw cases (exact either way, slower). More than
    #: the longest preset window (30 days), so the wall's presets never fall back; a bulk import of older
    #: history writes day roll-ups only. The due-work thread moves the horizon and prunes older hour rows.
    heat_hourly_days: int = Field(default=40, ge=1, le=3660)
    #: The map wall's time window when none is chosen (api/wall/filters.py WINDOWS).
    wall_default_window: str = "24h"
    #: Times without an offset (``2026-11-22T09:30``) are read in this zone: Chinese clients and
    #: hotline systems send Beijing time.
    timezone: str = "Asia/Shanghai"
    #: Largest request body accepted (bytes); a batch of 100,000 points is about 3 MB.
    max_body_bytes: int = 32 * 1024 * 1024
    #: Deepest nesting of arrays and objects a JSON body may have (a MultiPolygon FeatureCollection is 7 deep).
    #: Deeper bodies are refused with a 400 ``nesting_too_deep`` before any parser recurses into them.
    max_json_depth: int = Field(default=64, ge=8, le=512)
    #: Minutes a summoned department (or party member) has to acknowledge a whistle before it shows as an
    #: alert. 30 minutes is the common "报到" rule of Beijing's 街道吹哨、部门报到 practice.
    whistle_ack_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    #: Duplicate suggestion (并单): an open case of the same category within this distance and time window.
    duplicate_radius_m: float = Field(default=50.0, gt=0, le=5_000)
    duplicate_window_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    #: Lifetime of a person's sign-in (the web pages): one shift. The page keeps the token across reloads for
    #: this long (web/js/api.js); signing out, deactivation or an admin's "end sessions" revoke it at once.
    session_hours: float = Field(default=10.0, ge=0.05, le=7 * 24)
    #: Lifetime of a paired wall screen's (kiosk) credential; revoked from the admin page.
    kiosk_days: int = Field(default=365, ge=1, le=5 * 365)
    #: How long a kiosk pairing code shown on the admin page stays usable.
    kiosk_pairing_minutes: int = Field(default=15, ge=1, le=24 * 60)
    #: Take the client address of the audit log from X-Forwarded-For (only behind a trusted proxy).
    trust_forwarded_for: bool = False
    #: An XYZ raster tile server for the maps' basemap: an intranet tile server such as
    #: ``https://tiles.example.gov.cn/{z}/{x}/{y}.png``. Unset (the default), the maps draw only our own vector
    #: layers and work fully offline; there is deliberately no internet default.
    basemap_url: str | None = Field(default=None, pattern=r"^(https?://|/)[^\s]*\{z\}[^\s]*$")
    basemap_attribution: str | None = Field(default=None, max_length=300)
    basemap_max_zoom: int = Field(default=19, ge=1, le=22)
    #: Intake back-pressure (api/core/ratelimit.py), per process: reports a second each key (or login) may post,
    #: and the burst it may send at once; ``0`` turns the per-key limit off. A city hotline bridge posts a few
    #: a second at its peak, so 50/s only ever stops a runaway client or a retry storm.
    intake_rate: float = Field(default=50.0, ge=0)
    intake_burst: int = Field(default=200, ge=1)
    #: Intake requests in flight at once; more wait up to ``intake_queue_wait_s`` for a slot, then get 503
    #: ``overloaded``. Bounds the queue (and its latency) in front of the writers. Intake requests hold no database
    #: connection while they wait (the ``intake_writers`` do the writing), so the cap no longer guards the pool: it
    #: was 8, which also capped a group commit at 8 reports; 64 lets a batch gather what 2 cores can write.
    intake_max_inflight: int = Field(default=64, ge=0)
    intake_queue_wait_s: float = Field(default=2.0, ge=0)
    #: Intake writes go through group commit (api/core/batch.py): this many writer connections, each committing
    #: up to ``intake_batch_max`` reports a transaction. More writers: more intake throughput on a many-core
    #: database; fewer: more of the database left to the map wall while intake is saturated (issue 9).
    intake_writers: int = Field(default=2, ge=1, le=32)
    intake_batch_max: int = Field(default=64, ge=1, le=1000)
    #: ``json``: one JSON object a line (request id, route, status, duration, principal), for log shippers;
    #: ``text``: the usual human-readable lines.
    log_format: str = Field(default="text", pattern="^(json|text)$")
    #: The access log (api/core/observe.py) always has errors (4xx/5xx), slow requests (``log_slow_ms``), writes and
    #: requests that carry the client's own ``X-Request-ID``; of the other, plain fast reads, it keeps this fraction
    #: (1.0 = every request). Metrics and the audit log always count every request.
    log_sample: float = Field(default=0.05, ge=0, le=1)
    log_slow_ms: float = Field(default=500.0, ge=0)
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR|debug|info|warning|error)$")
    #: Open311 reads without a key, for a city that publishes its 311 data: every request, masked and coarse
    #: (api/open311/service.py ``publish``: no free text, no photo, the point rounded to ~100 m). Off: reads need
    #: a key, and an intake key reads only the requests it posted.
    open311_public_read: bool = False
    #: Serve Prometheus metrics at ``/metrics`` (no key: see api/core/observe.py).
    metrics: bool = True
    #: Roles that may publish a grid layout (issue 8); admin always may, and only admin may override
    #: blocking findings (with a recorded reason).
    publish_roles: str = "planner,admin"
    #: A planner's edit may leave this much (m²) of a grid outside its community before it is refused.
    planner_outside_tolerance_m2: float = Field(default=5.0, ge=0, le=1e6)
    #: Uploaded and imported files (issue 17, api/imports/files.py). An uploaded file larger than ``upload_max_bytes``
    #: is refused (413) while it is copied to disk; a zip is inspected before anything is extracted: more than
    #: ``archive_max_members`` members, more than ``archive_max_bytes`` uncompressed in all, or a member over 1 MiB
    #: that expands more than ``archive_max_ratio`` times (a zip bomb: 2 MB of zip declaring a 2 GiB Shapefile) is
    #: refused (413) before a byte is inflated, and extraction stops at the declared sizes.
    upload_max_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    archive_max_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    archive_max_members: int = Field(default=64, ge=1, le=100_000)
    archive_max_ratio: float = Field(default=200.0, ge=1)
    #: Imported geometries (issue 17): a polygon with more vertices than this is refused (422, naming its row):
    #: a 1,000,000-vertex grid made every later validation of its draft take 13 s and answer 55 MB. Real grid and
    #: community boundaries have hundreds to a few thousand vertices.
    import_max_vertices: int = Field(default=50_000, ge=4)
    #: Features in one uploaded file (the planner's import over HTTP); `gridmap import` on the command line is not
    #: limited in features (a city's buildings), only in vertices and archive sizes.
    upload_max_features: int = Field(default=100_000, ge=1)
    #: ``limit=all`` on the plain GeoJSON layers (``/buildings``, ``/grids``): the whole bounded layer in one
    #: streamed response, up to this many features (more: 422 ``too_many_features``, narrow the bbox).
    max_stream_features: int = Field(default=200_000, ge=1)
    #: Listen for grid/layout changes (NOTIFY) to keep the in-memory routing index fresh.
    listen: bool = True
    #: /ogc (OGC API Features, issue 23): collections readable without credentials, comma-separated, among
    #: ``streets,communities,grids`` (the map's outlines; never cases or drafts). Empty: every request needs a key.
    ogc_public_collections: str = Field(default="", pattern=r"^((streets|communities|grids)(,|$))*$")
    #: /ogc items per page when the client does not say (``limit``); at most ``max_page_size``.
    ogc_default_limit: int = Field(default=100, ge=1, le=10_000)

    @property
    def ogc_public_set(self) -> frozenset[str]:
        return frozenset(c for c in self.ogc_public_collections.split(",") if c)
    #: Photos (api/media, issue 18): where they are kept (``directory``: GRIDMAP_MEDIA_DIR, default
    #: ``.data/media``; ``s3``: an S3-compatible bucket), the largest upload accepted (413 beyond it) and the
    #: most pixels an image may declare (Pillow's decompression-bomb limit: a 12-megapixel phone photo is
    #: 12 M, a 100-megapixel camera 100 M; a tiny file declaring more is refused before it is decoded).
    media_backend: str = Field(default="directory", pattern="^(directory|s3)$")
    media_dir: Path | None = None
    media_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=512 * 1024 * 1024)
    media_max_pixels: int = Field(default=120_000_000, ge=10_000, le=1_000_000_000)
    media_s3_bucket: str | None = None
    media_s3_endpoint: str | None = None
    media_s3_access_key: str | None = None
    media_s3_secret_key: str | None = None
    media_s3_region: str | None = None
    media_s3_prefix: str = ""
    #: Webhooks (issue 19, api/webhooks): each app process runs one delivery worker (``gridmap webhooks run`` runs
    #: one on its own); several share the work (``FOR UPDATE SKIP LOCKED``). A failed delivery is retried after
    #: ``backoff_base_s`` × 2^(attempt-1) (±20 %), at most ``backoff_max_s``; after ``max_attempts`` it is dead
    #: (an admin replays it). Workers are woken by NOTIFY and poll every ``poll_s`` as well.
    webhook_worker: bool = True
    webhook_poll_s: float = Field(default=1.0, gt=0, le=60)
    webhook_backoff_base_s: float = Field(default=5.0, gt=0, le=3600)
    webhook_backoff_max_s: float = Field(default=3600.0, gt=0, le=7 * 86400)
    webhook_max_attempts: int = Field(default=12, ge=1, le=100)
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=120)
    webhook_concurrency: int = Field(default=32, ge=1, le=1000)
    #: Seconds between two looks for cases whose deadline has passed (``case.overdue``).
    webhook_overdue_interval_s: float = Field(default=30.0, gt=0, le=3600)
    #: Delivered events older than this are deleted (dead letters are kept until replayed or the subscription goes).
    webhook_retention_days: float = Field(default=14.0, gt=0, le=3650)
    #: The transport of ``notice`` subscriptions (notifications to people, api/webhooks/channels.py): ``webhook``
    #: (signed JSON to the subscription's URL) or a city's own ``package.module:Class``.
    webhook_notice_channel: str = "webhook"


@lru_cache
def get_settings() -> Settings:
    return Settings()


def sqlalchemy_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs (what people paste) and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url

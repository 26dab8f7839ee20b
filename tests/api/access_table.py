"""Who may call what: the one declared expectation per route, read by the access matrix
(tests/api/test_access_matrix.py) and by the API fuzzer (tests/api/test_fuzz.py).

Routes are discovered from the app, never listed by hand in the tests; this table is the hand-written
*expectation*, so a route added without a line here fails ``test_every_route_has_a_declared_expectation``
(add the line: which roles the route lets through). Admin passes every role check, so it is in every
role set.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

ROLES = ("admin", "dispatcher", "operator", "planner", "worker", "viewer", "intake")


@dataclass(frozen=True)
class Access:
    """``kind``: ``public`` (no credentials), ``bearer`` (API key or login token), ``open311`` (an API key as
    ``api_key`` or a Bearer header), ``ticket`` (the wall stream: a short-lived ticket in the query only).
    ``roles``: the roles let through (for ``bearer`` and ``open311``)."""

    kind: str
    roles: frozenset[str] = frozenset()

    def allows(self, role: str) -> bool:
        return self.kind == "public" or role in self.roles


def _bearer(*roles: str) -> Access:
    return Access("bearer", frozenset(("admin", *roles)))


# Written out by hand from issue 17's role decisions, NOT imported from api/auth/roles.py: this is the
# expectation the app is held to.
PUBLIC = Access("public")
ANY_KEY = _bearer("dispatcher", "operator", "planner", "worker", "viewer", "intake")
ADMIN = _bearer()
MAP = _bearer("dispatcher", "operator", "planner", "worker", "viewer")  # map data: not personal
WALL = _bearer("dispatcher", "planner", "viewer")  # the map wall: command centre, planners, the kiosk
COVERAGE = _bearer("dispatcher", "planner", "worker", "viewer")
ADDRESS_SEARCH = _bearer("dispatcher", "operator", "planner", "worker")
ADDRESS_REVIEW = _bearer("dispatcher", "operator", "planner")
FILE_REPORTS = _bearer("operator", "worker", "intake")
READ_REPORTS = _bearer("dispatcher", "operator", "planner", "worker", "intake")
READ_CASES = _bearer("dispatcher", "operator", "planner", "worker")
CASE_ACTOR = _bearer("dispatcher", "worker")
DISPATCHER = _bearer("dispatcher")
STAFF_READ = _bearer("dispatcher", "operator", "planner", "worker")
PLANNER = _bearer("planner")
OPEN311_REQUESTS = Access("open311", frozenset(("admin", "dispatcher", "operator", "planner", "worker", "intake")))
OPEN311_POST = Access("open311", frozenset(("admin", "operator", "worker", "intake")))
TICKET = Access("ticket")
TOKEN_ONLY = Access("bearer", frozenset())  # keys of every role are refused (the matrix sends keys)
# /ogc (issue 23): the map readers (cases inside scoped and masked as the API does); intake reads nothing there
OGC_READ = MAP
OGC_EDIT = PLANNER  # Part 4 on draft layouts: the planner's edit log

V1 = "/api/v1"

EXPECTED: dict[tuple[str, str], Access] = {
    # documentation and health
    ("GET", "/api/v1/openapi.json"): PUBLIC,
    ("GET", "/api/docs"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,  # Prometheus scrapers send no key (api/core/observe.py)
    # map data
    ("GET", f"{V1}/streets"): MAP,
    ("GET", f"{V1}/communities"): MAP,
    ("GET", f"{V1}/layouts"): MAP,
    ("GET", f"{V1}/layouts/{{layout_id}}"): MAP,
    ("GET", f"{V1}/grids"): MAP,
    ("GET", f"{V1}/grids/{{code}}"): MAP,
    ("GET", f"{V1}/buildings"): MAP,
    ("GET", f"{V1}/facilities"): MAP,
    ("GET", f"{V1}/roads"): MAP,  # issue 20
    ("GET", f"{V1}/tiles/{{layer}}/{{z}}/{{x}}/{{y}}.mvt"): MAP,
    ("GET", f"{V1}/basemap"): PUBLIC,  # the deployment's intranet basemap URL: the same for everyone
    # routing and intake
    ("GET", f"{V1}/locate"): ANY_KEY,
    ("POST", f"{V1}/locate"): ANY_KEY,
    ("GET", f"{V1}/categories"): ANY_KEY,
    ("POST", f"{V1}/reports"): FILE_REPORTS,
    ("GET", f"{V1}/reports/{{report_id}}"): READ_REPORTS,
    ("GET", f"{V1}/reports"): READ_REPORTS,
    # keys, users, audit
    ("GET", f"{V1}/keys"): ADMIN,
    ("POST", f"{V1}/keys"): ADMIN,
    ("DELETE", f"{V1}/keys/{{key_id}}"): ADMIN,
    ("POST", f"{V1}/auth/token"): PUBLIC,
    ("POST", f"{V1}/auth/logout"): TOKEN_ONLY,  # a login token ends itself; an API key is revoked, never logged out
    ("GET", f"{V1}/auth/me"): ANY_KEY,
    ("GET", f"{V1}/users"): ADMIN,
    ("POST", f"{V1}/users"): ADMIN,
    ("GET", f"{V1}/users/{{user_id}}"): ADMIN,
    ("PATCH", f"{V1}/users/{{user_id}}"): ADMIN,
    ("DELETE", f"{V1}/users/{{user_id}}"): ADMIN,
    ("DELETE", f"{V1}/users/{{user_id}}/sessions"): ADMIN,  # screens: an admin ends a user's sessions
    ("POST", f"{V1}/kiosks"): ADMIN,  # screens: a wall screen and its pairing code
    ("POST", f"{V1}/kiosks/{{user_id}}/pairing"): ADMIN,
    ("POST", f"{V1}/auth/kiosk"): PUBLIC,  # the wall trades its one-time pairing code for a viewer token
    ("GET", f"{V1}/audit"): ADMIN,
    # the map wall
    ("GET", f"{V1}/wall/heatmap"): WALL,
    ("GET", f"{V1}/wall/summary"): WALL,
    ("GET", f"{V1}/wall/lists/{{kind}}"): WALL,
    ("GET", f"{V1}/wall/export/{{kind}}.{{fmt}}"): WALL,
    ("GET", f"{V1}/wall/grids"): WALL,
    ("GET", f"{V1}/wall/grids/{{code}}/cases"): WALL,
    ("GET", f"{V1}/wall/cases/{{case_id}}"): WALL,
    ("GET", f"{V1}/wall/replay"): WALL,
    ("POST", f"{V1}/wall/stream/ticket"): WALL,
    ("GET", f"{V1}/wall/stream"): TICKET,
    # coverage analysis
    ("GET", f"{V1}/layouts/{{layout_id}}/coverage"): COVERAGE,
    ("GET", f"{V1}/layouts/{{layout_id}}/communities/{{code}}/coverage"): COVERAGE,
    ("GET", f"{V1}/layouts/{{layout_id}}/workload.csv"): COVERAGE,
    ("GET", f"{V1}/layouts/{{layout_id}}/workload"): COVERAGE,
    ("GET", f"{V1}/layouts/{{layout_id}}/catchments"): COVERAGE,
    ("GET", f"{V1}/layouts/{{layout_id}}/walk-catchments"): COVERAGE,  # issue 20
    # the planner workspace (issue 8); publishing: GRIDMAP_PUBLISH_ROLES, planner and admin by default
    ("POST", f"{V1}/layouts"): PLANNER,
    ("GET", f"{V1}/layouts/compare"): PLANNER,
    ("DELETE", f"{V1}/layouts/{{layout_id}}"): PLANNER,
    ("GET", f"{V1}/layouts/{{layout_id}}/grids"): PLANNER,
    ("POST", f"{V1}/layouts/{{layout_id}}/edits"): PLANNER,
    ("POST", f"{V1}/layouts/{{layout_id}}/undo"): PLANNER,
    ("GET", f"{V1}/layouts/{{layout_id}}/edits"): PLANNER,
    ("GET", f"{V1}/layouts/{{layout_id}}/validation"): PLANNER,
    ("GET", f"{V1}/layouts/{{layout_id}}/impact"): PLANNER,
    ("POST", f"{V1}/layouts/{{layout_id}}/publish"): PLANNER,
    ("POST", f"{V1}/layouts/{{layout_id}}/publish/cancel"): PLANNER,
    ("GET", f"{V1}/layouts/{{layout_id}}/publishes"): PLANNER,
    ("POST", f"{V1}/layouts/{{draft_id}}/proposals"): PLANNER,  # issue 20
    ("POST", f"{V1}/layouts/{{draft_id}}/proposals/{{proposal_id}}/apply"): PLANNER,
    # the address registry
    ("GET", f"{V1}/addresses/search"): ADDRESS_SEARCH,
    ("GET", f"{V1}/addresses/reverse"): ADDRESS_SEARCH,
    ("GET", f"{V1}/addresses/reviews"): ADDRESS_SEARCH,
    ("POST", f"{V1}/addresses/reviews/{{review_id}}"): ADDRESS_REVIEW,
    ("GET", f"{V1}/addresses/{{address_id}}"): ADDRESS_SEARCH,
    # cases, whistles, staff
    ("GET", f"{V1}/cases"): READ_CASES,
    ("GET", f"{V1}/cases/rates"): READ_CASES,
    ("GET", f"{V1}/cases/{{case_id}}"): READ_CASES,
    ("GET", f"{V1}/cases/{{case_id}}/events"): READ_CASES,
    ("POST", f"{V1}/cases/{{case_id}}/transitions"): CASE_ACTOR,
    ("POST", f"{V1}/cases/{{case_id}}/assignee"): CASE_ACTOR,
    ("GET", f"{V1}/cases/{{case_id}}/grids"): DISPATCHER,
    ("POST", f"{V1}/cases/{{case_id}}/grid"): DISPATCHER,
    ("POST", f"{V1}/cases/{{case_id}}/notes"): CASE_ACTOR,
    ("POST", f"{V1}/cases/{{case_id}}/rating"): DISPATCHER,
    ("GET", f"{V1}/cases/{{case_id}}/duplicates"): CASE_ACTOR,
    ("POST", f"{V1}/cases/{{case_id}}/merge"): DISPATCHER,
    ("POST", f"{V1}/cases/{{case_id}}/whistles"): CASE_ACTOR,
    ("GET", f"{V1}/cases/{{case_id}}/whistles"): READ_CASES,
    ("GET", f"{V1}/departments"): READ_CASES,  # screens: the console's dispatch-to-department and whistle pickers
    ("GET", f"{V1}/whistles/alerts"): READ_CASES,
    ("POST", f"{V1}/whistles/targets/{{target_id}}/acknowledge"): CASE_ACTOR,
    ("POST", f"{V1}/whistles/targets/{{target_id}}/report"): CASE_ACTOR,
    ("GET", f"{V1}/people"): STAFF_READ,
    ("GET", f"{V1}/people/{{person_id}}"): STAFF_READ,
    ("POST", f"{V1}/people"): DISPATCHER,
    ("PATCH", f"{V1}/people/{{person_id}}"): DISPATCHER,
    ("DELETE", f"{V1}/people/{{person_id}}"): DISPATCHER,
    # photos (issue 18): uploaded by whoever files reports or acts on cases; read under the case's rules (a 404
    # otherwise: a worker only its grids' cases, an upload not yet attached only its uploader)
    ("POST", f"{V1}/media"): _bearer("dispatcher", "operator", "worker", "intake"),
    ("GET", f"{V1}/media/{{media_id}}"): ANY_KEY,
    ("GET", f"{V1}/media/{{media_id}}/thumbnail"): ANY_KEY,
    ("GET", f"{V1}/media/{{media_id}}/meta"): ANY_KEY,
    # the working calendar and the case clock (issue 19): read by whoever reads cases or the wall
    ("GET", f"{V1}/calendar"): _bearer("dispatcher", "operator", "planner", "worker", "viewer"),
    ("GET", f"{V1}/calendar/exceptions"): _bearer("dispatcher", "operator", "planner", "worker", "viewer"),
    ("POST", f"{V1}/calendar/exceptions"): ADMIN,
    ("DELETE", f"{V1}/calendar/exceptions/{{day}}"): ADMIN,
    ("POST", f"{V1}/cases/{{case_id}}/suspension"): DISPATCHER,
    ("POST", f"{V1}/cases/{{case_id}}/resumption"): DISPATCHER,
    ("POST", f"{V1}/cases/{{case_id}}/extension"): DISPATCHER,
    # follow-up and evaluation (issue 19): evaluation read by the command centre and planners (every grid) and
    # workers (their own grids); not the hotline seat, the wall's kiosk or machine systems
    ("POST", f"{V1}/cases/{{case_id}}/followup"): DISPATCHER,
    ("GET", f"{V1}/evaluation/definitions"): _bearer("dispatcher", "planner", "worker"),
    ("GET", f"{V1}/evaluation/units"): _bearer("dispatcher", "planner", "worker"),
    ("GET", f"{V1}/evaluation/trend"): _bearer("dispatcher", "planner", "worker"),
    ("GET", f"{V1}/evaluation/export.xlsx"): _bearer("dispatcher", "planner", "worker"),
    # webhooks (issue 19): subscriptions, their delivery log and replays are an admin's
    ("GET", f"{V1}/webhooks/event-types"): ADMIN,
    ("GET", f"{V1}/webhooks/subscriptions"): ADMIN,
    ("POST", f"{V1}/webhooks/subscriptions"): ADMIN,
    ("GET", f"{V1}/webhooks/subscriptions/{{sub_id}}"): ADMIN,
    ("PATCH", f"{V1}/webhooks/subscriptions/{{sub_id}}"): ADMIN,
    ("DELETE", f"{V1}/webhooks/subscriptions/{{sub_id}}"): ADMIN,
    ("GET", f"{V1}/webhooks/subscriptions/{{sub_id}}/deliveries"): ADMIN,
    ("POST", f"{V1}/webhooks/subscriptions/{{sub_id}}/replay"): ADMIN,
    ("POST", f"{V1}/webhooks/subscriptions/{{sub_id}}/deliveries/{{delivery_id}}/replay"): ADMIN,
    # Open311 GeoReport v2
    **{(m, f"/open311/v2/{p}.{fmt}"): a for fmt in ("json", "xml") for m, p, a in (
        ("GET", "discovery", PUBLIC),  # discovery and the service catalogue: no personal data
        ("GET", "services", PUBLIC),
        ("GET", "services/{service_code}", PUBLIC),
        ("GET", "service/{service_code}", PUBLIC),  # the PyPI open311 client's spelling
        ("POST", "requests", OPEN311_POST),
        ("GET", "requests", OPEN311_REQUESTS),  # scoped: an intake key reads the requests it posted
        ("GET", "requests/{request_id}", OPEN311_REQUESTS),
        ("GET", "servicerequestupdates", OPEN311_REQUESTS),
    )},
    # OGC API Features and Tiles (issue 23): the documents that say nothing about the data need no key
    ("GET", "/ogc"): PUBLIC,
    ("GET", "/ogc/conformance"): PUBLIC,
    ("GET", "/ogc/api"): PUBLIC,
    ("GET", "/ogc/collections"): OGC_READ,
    ("GET", "/ogc/collections/{collection_id}"): OGC_READ,
    ("GET", "/ogc/collections/{collection_id}/queryables"): OGC_READ,
    ("GET", "/ogc/collections/{collection_id}/items"): OGC_READ,
    ("GET", "/ogc/collections/{collection_id}/items/{feature_id}"): OGC_READ,
    ("GET", "/ogc/collections/{collection_id}/tiles"): OGC_READ,
    ("GET", "/ogc/collections/{collection_id}/tiles/WebMercatorQuad"): OGC_READ,
    ("GET", "/ogc/collections/{collection_id}/tiles/WebMercatorQuad/tilejson.json"): OGC_READ,
    ("GET", "/ogc/collections/{collection_id}/tiles/WebMercatorQuad/{tile_matrix}/{tile_row}/{tile_col}"): OGC_READ,
    ("POST", "/ogc/collections/{collection_id}/items"): OGC_EDIT,
    ("PUT", "/ogc/collections/{collection_id}/items/{feature_id}"): OGC_EDIT,
    ("PATCH", "/ogc/collections/{collection_id}/items/{feature_id}"): OGC_EDIT,
    ("DELETE", "/ogc/collections/{collection_id}/items/{feature_id}"): OGC_EDIT,
    ("GET", "/ogc/tileMatrixSets"): PUBLIC,
    ("GET", "/ogc/tileMatrixSets/WebMercatorQuad"): PUBLIC,
}


def app_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """Every (method, path) the app answers, nested routers included (HEAD and the static mount left out)."""
    for ctx in iter_route_contexts(app.routes):
        path, methods = ctx.path, ctx.methods
        if not path or not methods:  # the static front end mounted at /
            continue
        for method in sorted(methods - {"HEAD"}):
            yield method, path


def expectation(method: str, path: str) -> Access:
    return EXPECTED[(method, path)]

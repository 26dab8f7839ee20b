"""Notifications to people (SMS, WeChat, e-mail) through ONE channel interface (issue 19).

A subscription of ``format`` ``notice`` does not receive the raw event: the delivery worker turns the event into
:class:`Notice` s for the people it concerns (the case's worker: a new case in their grid, a reassignment, a
dispatch, an overdue case) and hands them to a :class:`NotificationChannel`. The first (and default) channel is a
webhook: the notices go as one signed JSON body to the subscription's URL, with the same retries, order per case,
delivery log and dead letters as any webhook. A city plugs its SMS gateway in either by putting a small adapter
at that URL (it checks the signature and calls the gateway: README "Notifications to people"), or by writing a
:class:`NotificationChannel` in Python and naming it in ``GRIDMAP_WEBHOOK_NOTICE_CHANNEL`` (``package.module:Class``).
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import aiohttp
import orjson

from api.webhooks import events

#: Which events concern the case's worker, and what they are told (zh-CN: the people are in China).
TEMPLATES: dict[str, str] = {
    "report.created": "【网格】新案件 {case_id}（{category}）已分派给您，请于 {deadline} 前处置。",
    "case.assign": "【网格】案件 {case_id}（{category}）已改派给您，请于 {deadline} 前处置。",
    "case.transitioned": "【网格】案件 {case_id}（{category}）已派遣，请于 {deadline} 前处置。",
    "case.overdue": "【网格】案件 {case_id}（{category}）已超期，请尽快处置。",
}


@dataclass(frozen=True, slots=True)
class Notice:
    """One message to one person."""

    person_id: int
    name: str | None
    phone: str | None
    text: str
    event_id: int
    event_type: str
    case_id: int | None


@dataclass(frozen=True, slots=True)
class Sent:
    ok: bool
    status: int | None
    error: str | None = None


class NotificationChannel(Protocol):
    """What a transport to people implements. ``send`` delivers every notice of one event or fails as a whole
    (the worker retries the event with backoff: a channel must tolerate a repeat, keyed by ``event_id``)."""

    async def send(self, notices: list[Notice], *, url: str, secret: str, http: aiohttp.ClientSession,
                   event_id: int) -> Sent: ...


class WebhookChannel:
    """The first channel: one signed JSON body ``{"event_id", "notices": [...]}`` POSTed to the subscription."""

    async def send(self, notices: list[Notice], *, url: str, secret: str, http: aiohttp.ClientSession,
                   event_id: int) -> Sent:
        raw = orjson.dumps({"id": event_id, "type": "notice", "notices": [asdict(n) for n in notices]})
        return await post(http, url=url, raw=raw, secret=secret, event_id=event_id, event_type="notice")


async def post(http: aiohttp.ClientSession, *, url: str, raw: bytes, secret: str, event_id: int, event_type: str,
               delivery_id: int | None = None, attempt: int = 1) -> Sent:
    """POST a body signed with the secret; any 2xx is delivered, anything else (redirects included) is not."""
    headers = {"Content-Type": "application/json", events.SIGNATURE_HEADER: events.sign(secret, raw),
               events.EVENT_HEADER: str(event_id), "X-Gridmap-Event-Type": event_type,
               "X-Gridmap-Attempt": str(attempt), "User-Agent": "gridmap-webhooks/1"}
    if delivery_id is not None:
        headers["X-Gridmap-Delivery"] = str(delivery_id)
    try:
        async with http.post(url, data=raw, headers=headers, allow_redirects=False) as resp:
            await resp.read()
            ok = 200 <= resp.status < 300
            return Sent(ok, resp.status, None if ok else f"HTTP {resp.status}")
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        return Sent(False, None, f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__)


def notices_for(*, event_id: int, event_type: str, payload: dict[str, Any],
                people: dict[int, tuple[str | None, str | None]]) -> list[Notice]:
    """The notices an event gives rise to (none when it concerns nobody). ``people``: id → (name, phone).

    >>> notices_for(event_id=7, event_type="case.overdue", payload={"case": {"id": 3, "assignee_id": 5,
    ...     "category_code": "C01", "deadline": None}, "change": {}}, people={5: ("王五", "13800000000")})[0].text
    '【网格】案件 3（C01）已超期，请尽快处置。'
    """
    template = TEMPLATES.get(event_type)
    case = payload.get("case") or {}
    change = payload.get("change") or {}
    if template is None or (event_type == "case.transitioned" and change.get("to_status") != "dispatched"):
        return []
    pid = case.get("assignee_id")
    if pid is None or pid not in people:
        return []
    name, phone = people[pid]
    deadline = (case.get("deadline") or "")[:16].replace("T", " ")
    return [Notice(pid, name, phone, template.format(case_id=case.get("id"), category=case.get("category_code"),
                                                    deadline=deadline or "—"),
                   event_id, event_type, case.get("id"))]


def load_channel(spec: str) -> NotificationChannel:
    """``webhook`` or ``package.module:Class`` (a city's own transport, constructed without arguments)."""
    if spec == "webhook":
        return WebhookChannel()
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)()

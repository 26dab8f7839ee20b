"""The wall's filters: a time window (last hour, today, 7 or 30 days, custom) and category/status/source."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from api.cases import workflow
from api.core.errors import InvalidParameter

TZ = ZoneInfo("Asia/Shanghai")
WINDOWS = ("1h", "24h", "today", "7d", "30d", "custom")
#: The wall's window when a request names none, unless GRIDMAP_WALL_DEFAULT_WINDOW says otherwise: the last
#: 24 hours, because at the start of a morning shift "today" is a few hours old and the wall would look empty.
DEFAULT_WINDOW = "24h"
#: The case statuses and the final ones (not open: the wall's "open" and "overdue" leave them out), from the
#: one state machine.
STATUSES = workflow.STATUSES
CLOSED = workflow.TERMINAL
MAX_SPAN = timedelta(days=366)
_TOKEN = re.compile(r"^[A-Za-z0-9_]{1,32}$")


@dataclass(frozen=True, slots=True)
class Filters:
    since: datetime
    until: datetime
    window: str
    categories: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    def params(self) -> dict:
        return {"cats": list(self.categories), "stats": list(self.statuses), "srcs": list(self.sources)}


def _list(raw: str | None, field: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    if not raw:
        return ()
    items = tuple(dict.fromkeys(p.strip() for p in raw.split(",") if p.strip()))
    for item in items:
        if not _TOKEN.match(item):
            raise InvalidParameter(f"{field}: {item!r} is not a valid value", field=field)
        if allowed is not None and item not in allowed:
            raise InvalidParameter(f"{field}: {item!r} is not one of {', '.join(allowed)}", field=field)
    return items


def _when(raw: str, field: str) -> datetime:
    try:
        t = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidParameter(f"{field} must be an ISO 8601 date-time", field=field) from None
    return t if t.tzinfo else t.replace(tzinfo=TZ)


def parse_filters(*, window: str | None, since: str | None, until: str | None, category: str | None,
                  status: str | None, source: str | None, now: datetime | None = None) -> Filters:
    now = now or datetime.now(TZ)
    window = window or DEFAULT_WINDOW
    if window not in WINDOWS:
        raise InvalidParameter(f"window must be one of {', '.join(WINDOWS)}", field="window")
    # Intake accepts reports up to 10 minutes ahead of the clock; a live window must include them.
    end = now + timedelta(minutes=10)
    if window == "custom":
        if not since or not until:
            raise InvalidParameter("a custom window needs since and until", field="since")
        t0, t1 = _when(since, "since"), _when(until, "until")
        if t1 <= t0:
            raise InvalidParameter("until must be after since", field="until")
        if t1 - t0 > MAX_SPAN:
            raise InvalidParameter("a custom window may span at most 366 days", field="until")
    else:
        for raw, name in ((since, "since"), (until, "until")):  # unused by a preset, but must still be a time
            if raw:
                _when(raw, name)
        if window.endswith("h"):
            t0, t1 = now - timedelta(hours=int(window[:-1])), end
        elif window == "today":
            t0, t1 = now.astimezone(TZ).replace(hour=0, minute=0, second=0, microsecond=0), end
        else:
            t0, t1 = now - timedelta(days=int(window[:-1])), end
    return Filters(since=t0, until=t1, window=window, categories=_list(category, "category"),
                   statuses=_list(status, "status", STATUSES), sources=_list(source, "source"))


def where(f: Filters, *, category: str, status: str, source: str) -> str:
    """SQL conditions for the category/status/source filters on the given columns."""
    out = []
    if f.categories:
        out.append(f"{category} = ANY(:cats)")
    if f.statuses:
        out.append(f"{status} = ANY(:stats)")
    if f.sources:
        out.append(f"{source} = ANY(:srcs)")
    return " AND ".join(out) or "TRUE"

"""The State Council working calendar (国务院办公厅 holiday notices) from the ``chinese-calendar`` library.

Pure: no web or database code. The library (pinned in pyproject.toml) covers the years it has notices for;
for any other year it knows nothing, and we do not guess: :func:`library_days` answers ``None`` and the
callers fall back to plain weekdays/weekends, saying so (``source = "weekends only"``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import chinese_calendar
from chinese_calendar.constants import Holiday

#: ``source`` of a day taken from the library, and of a day of a year the library does not cover.
LIBRARY, WEEKENDS_ONLY = "chinese-calendar", "weekends only"


@dataclass(frozen=True, slots=True)
class Day:
    """One day: a working day or not, why (``kind``), and the holiday's name when there is one."""

    date: dt.date
    workday: bool
    kind: str  # workday | weekend | holiday | makeup_workday (调休上班)
    name: str | None = None
    name_en: str | None = None


def covered_years() -> range:
    """Years the pinned library has State Council notices for.

    >>> covered_years()
    range(2004, 2027)
    """
    years = [d.year for d in chinese_calendar.holidays] + [d.year for d in chinese_calendar.workdays]
    return range(min(years), max(years) + 1)


def weekend_day(day: dt.date) -> Day:
    """A day by the weekday rule alone (Saturday and Sunday off).

    >>> weekend_day(dt.date(2027, 1, 2)).workday
    False
    """
    off = day.isoweekday() >= 6
    return Day(day, not off, "weekend" if off else "workday")


def library_day(day: dt.date) -> Day | None:
    """A day as the State Council notices have it, or ``None`` when the library does not cover its year.

    >>> library_day(dt.date(2026, 10, 1))
    Day(date=datetime.date(2026, 10, 1), workday=False, kind='holiday', name='国庆节', name_en='National Day')
    >>> library_day(dt.date(2026, 10, 10)).kind  # a Saturday worked to make up for 国庆
    'makeup_workday'
    >>> library_day(dt.date(2027, 1, 4)) is None
    True
    """
    if day.year not in covered_years():
        return None
    off, english = chinese_calendar.get_holiday_detail(day)
    name = Holiday(english).chinese if english else None
    if off:
        return Day(day, False, "holiday" if english else "weekend", name, english)
    if english:  # a working day that carries a holiday's name is a make-up day
        return Day(day, True, "makeup_workday", f"{name}调休", f"{english} make-up working day")
    return Day(day, True, "workday")


def library_days(year: int) -> list[Day] | None:
    """Every day of ``year`` from the library, or ``None`` for a year it does not cover.

    >>> days = library_days(2026)
    >>> len(days), sum(not d.workday for d in days)
    (365, 117)
    """
    first = dt.date(year, 1, 1)
    n = (dt.date(year + 1, 1, 1) - first).days
    days = [library_day(first + dt.timedelta(i)) for i in range(n)]
    return None if days[0] is None else days  # type: ignore[return-value]

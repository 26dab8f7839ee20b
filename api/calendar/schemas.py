from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Source = Literal["chinese-calendar", "weekends only"]


class CalendarDay(BaseModel):
    date: dt.date
    workday: bool
    name: str | None = Field(description="the holiday (元旦, 国庆节…), the make-up day (国庆节调休) or the local "
                                         "exception's name; null for an ordinary day")
    kind: Literal["workday", "weekend", "holiday", "makeup_workday", "local"]


class CalendarYear(BaseModel):
    year: int
    source: Source = Field(description="`chinese-calendar` (State Council notices) or `weekends only` for a "
                                       "year the library does not cover (no holidays are known for it)")
    days: list[CalendarDay]


class ExceptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: dt.date = Field(ge=dt.date(1900, 1, 1), le=dt.date(2200, 12, 31))
    workday: bool = Field(description="true: a working day (e.g. a local make-up day); false: a day off")
    name: str = Field(min_length=1, max_length=200, examples=["区级防汛停工"])


class ExceptionOut(BaseModel):
    date: dt.date
    workday: bool
    name: str
    created_by: str
    created_at: dt.datetime


class ExceptionList(BaseModel):
    items: list[ExceptionOut]

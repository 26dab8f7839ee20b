"""The working calendar's tables (migration 0024): the library's days and an admin's local exceptions."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, func
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base


class Workday(Base):
    """One day of a year the pinned ``chinese-calendar`` covers, as geo/workcal.py reads it."""

    __tablename__ = "workday"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    workday: Mapped[bool]
    kind: Mapped[str]
    name: Mapped[str | None]
    name_en: Mapped[str | None]


class CalendarException(Base):
    """A local exception: a day off or a working day that the State Council calendar does not have."""

    __tablename__ = "calendar_exception"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    workday: Mapped[bool]
    name: Mapped[str]
    created_by: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

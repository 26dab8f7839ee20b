"""Cases (案件), their append-only event log, and departments that answer a whistle.

The table is called ``cases`` rather than ``case`` (DESIGN.md's name) because ``CASE`` is a
reserved word in SQL and every hand-written query would have to quote it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, SmallInteger, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base


class Department(Base):
    __tablename__ = "department"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str]
    name_en: Mapped[str | None]


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id"))
    layout_id: Mapped[int | None] = mapped_column(ForeignKey("grid_layout.id"))
    grid_code: Mapped[str | None] = mapped_column(String(15))
    category_code: Mapped[str | None] = mapped_column(ForeignKey("category.code"))
    status: Mapped[str] = mapped_column(String(16), default="reported")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("department.code"))
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    #: Suspended (挂起, migration 0024): since when, and the deadline it had (``deadline`` is NULL meanwhile).
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    suspended_deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CaseEvent(Base):
    """One transition of a case. Rows are never updated or deleted (a trigger refuses it)."""

    __tablename__ = "case_event"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str]
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None]
    attachments: Mapped[list] = mapped_column(JSONB, default=list)
    #: ``transition`` for a status change; ``assign``, ``whistle``, ``acknowledge``, ``report_back``, ``merge``,
    #: ``rating`` or ``note`` otherwise (then from = to). Added by migration 0004.
    kind: Mapped[str] = mapped_column(String(24), default="transition", server_default="transition")
    data: Mapped[dict | None] = mapped_column(JSONB)
    #: A note gridmap wrote itself: its code and parameters (api/cases/notes.py), shown in each screen's language;
    #: None for what a person typed. Added by migration 0028.
    note_code: Mapped[str | None]
    note_params: Mapped[dict | None] = mapped_column(JSONB)

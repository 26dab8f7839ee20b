"""Handing a report to the intake writer: the write logic the endpoint and the fast path share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy.orm import Session

from api.auth.service import Principal
from api.reports import service
from api.reports.schemas import ReportIn, ReportOut


def submit(state: Any, factory: Callable[[], AbstractContextManager[Session]], *, body: ReportIn,
           idempotency_key: str | None, principal: Principal) -> Awaitable[ReportOut]:
    """Hand a report to the intake writer (the endpoint, api/reports/router.py, and the fast path,
    api/reports/fast.py): answered once the
    transaction holding it has committed (group commit, api/core/batch.py). Reports that share a batch are
    written with one statement (service.write_batch); a report with an address goes one by one."""
    settings = state.settings
    args = {"cache": state.index_cache, "body": body, "idempotency_key": idempotency_key, "principal": principal,
            "tolerance_m": settings.routing_tolerance_m, "tz": settings.timezone,
            "duplicate_radius_m": settings.duplicate_radius_m,
            "duplicate_window_hours": settings.duplicate_window_hours, "notify": state.notifier.send}

    def write(session: Session) -> ReportOut:
        return service.create_report(session, **args)

    def prepare(session: Session) -> service.Prepared:
        return service.prepare_report(session, **args)

    return state.intake_writer.run(factory, write, prepare=None if body.address else prepare)

"""Intake written in batches (issue 4): the reports that share a group commit are written with ONE statement
(api/reports/service.py ``write_batch``), and each must get exactly the answer, the rows and the roll-ups that
writing them one after the other (``write_one``) gives: its own 201/200/409/422, retries replayed, duplicates
among the batch's own reports found, one bad report never failing or losing the others."""

from __future__ import annotations

import asyncio
import threading
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from api.auth.service import Principal
from api.core.batch import BatchWriter
from api.core.errors import GridmapError
from api.locate.index import IndexCache
from api.reports import service
from api.reports.schemas import ReportIn

HEAT = ("case_heat_day", "case_heat_hour", "case_heat_cell_day", "case_heat_cell_hour", "case_heat_dim_day",
        "case_heat_dim_hour")
INTAKE = Principal(key_id=0, name="batch test", role="intake")


@pytest.fixture
def spot(db: Session) -> tuple[float, float]:
    return db.execute(text("""
        SELECT ST_X(p), ST_Y(p) FROM (
          SELECT ST_PointOnSurface(ST_Buffer(boundary, -0.0005)) p FROM grid g
          JOIN grid_layout l ON l.id = g.layout_id WHERE l.status = 'published' ORDER BY code LIMIT 1 OFFSET 7) t
    """)).one()


def body(spot: tuple[float, float], dx_m: float = 0.0, **extra: Any) -> ReportIn:
    """A report ``dx_m`` metres east of ``spot`` (category E01001 unless said)."""
    x, y = spot
    fields = {"source": "mini_program", "category": "E01001", "description": "井盖缺失", "lon": x + dx_m / 85_000.0,
              "lat": y, **extra}
    return ReportIn(**fields)


class Posting:
    """What the router hands the intake writer for one request: ``fn`` (one by one) and ``prepare`` (batch)."""

    def __init__(self, cache: IndexCache, b: ReportIn, key: str | None, sent: list[tuple[str, str]]) -> None:
        self.batchable = True
        self.args = {"cache": cache, "body": b, "idempotency_key": key, "principal": INTAKE, "tolerance_m": 50.0,
                     "tz": "Asia/Shanghai", "notify": lambda c, p: sent.append((c, p))}

    def fn(self, session: Session) -> service.ReportOut:
        return service.create_report(session, **self.args)

    def prepare(self, session: Session) -> service.Prepared:
        return service.prepare_report(session, **self.args)


def post_together(db: Session, postings: list[Posting]) -> tuple[list[Any], BatchWriter]:
    """Queue every posting while the writer is held, so that they form one batch; results or exceptions."""
    writer = BatchWriter("intake-test", max_batch=64, bulk=service.write_batch)
    gate = threading.Event()

    def factory() -> nullcontext[Session]:
        return nullcontext(db)

    async def scenario() -> list[Any]:
        first = asyncio.ensure_future(writer.run(factory, lambda s: gate.wait(10)))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(writer.run(factory, p.fn, prepare=p.prepare if p.batchable else None))
                for p in postings]
        await asyncio.sleep(0.05)
        gate.set()
        await first
        return await asyncio.gather(*rest, return_exceptions=True)

    try:
        return asyncio.run(scenario()), writer
    finally:
        writer.stop()


def heat(db: Session) -> dict[str, set[tuple]]:
    return {t: set(db.execute(text(f"SELECT * FROM {t}")).all()) for t in HEAT}


def test_a_batch_answers_each_report_as_one_by_one_would(db: Session, spot) -> None:
    cache = IndexCache()
    db.execute(text("INSERT INTO category (code, name, kind, major_code, major_name, time_limit_hours) "
                    "SELECT 'T99001', '测试', kind, major_code, major_name, 12 FROM category LIMIT 1"))
    first = service.create_report(db, cache=cache, body=body(spot, external_id="B-0"), idempotency_key="k-0",
                                  principal=INTAKE, tolerance_m=50.0, tz="Asia/Shanghai")
    db.commit()
    sent: list[tuple[str, str]] = []
    future = (datetime.now() + timedelta(days=1)).isoformat()
    plan = [
        (body(spot, 5.0), "k-1"),                                # new, 5 m from the stored first report
        (body(spot, 10.0, category="T99001"), None),             # new, a category added a moment ago
        (body(spot, external_id="B-0"), "k-0"),                  # a retry of the stored one: replayed
        (body(spot, 5.0), "k-1"),                                # the same request twice in one batch: replayed
        (body(spot, 6.0, description="另一件"), "k-1"),           # the same key, another body: 409
        (body(spot, category="NOPE"), None),                     # unknown category: 422, nothing written
        (body(spot, reported_at=future), None),                  # in the future: 422
        (body(spot, 8.0), None),                                 # new: the first and k-1 are its duplicates
        (body(spot, 3000.0), None),                              # new, far away: no duplicates
    ]
    out, writer = post_together(db, [Posting(cache, b, k, sent) for b, k in plan])
    errors = {i: (o.status, o.code) for i, o in enumerate(out) if isinstance(o, GridmapError)}
    assert errors == {4: (409, "idempotency_key_reused"), 5: (422, "validation_error"),
                      6: (422, "validation_error")}, out
    assert writer.bulk_items == 6  # every report but the three refused went through the one statement
    new = [out[i] for i in (0, 1, 7, 8)]
    assert not any(o.replayed for o in new) and out[2].replayed and out[3].replayed
    assert out[2].id == first.id and out[3].id == out[0].id
    assert [o.id for o in new] == sorted(o.id for o in new)  # ids in the order of the batch
    assert out[0].case.duplicates == [first.case.id]
    assert out[1].case.duplicates == []  # another category
    assert out[7].case.duplicates == [out[0].case.id, first.case.id]  # nearest first, the batch's own included
    assert out[8].case.duplicates == []
    assert all(o.routing.method == "inside" for o in new[:3]) and all(o.case.status == "reported" for o in new)
    read = service.report_out(db, report_id=out[7].id, unmask=False)
    assert read.model_dump(exclude={"case"}) == out[7].model_dump(exclude={"case"})
    assert read.case.deadline == out[7].case.deadline and read.case.assignee == out[7].case.assignee
    # NOTIFY: one notice per new report, after the commit, none for retries or refusals
    assert sorted(int(p.split('"id":')[1].split(",")[0]) for _, p in sent) == sorted(o.id for o in new)
    events = db.execute(text("SELECT count(*) FROM case_event WHERE case_id = ANY(:c)"),
                        {"c": [o.case.id for o in new]}).scalar_one()
    assert events == 4


def test_batch_and_one_by_one_write_the_same_rows_and_rollups(db: Session, spot) -> None:
    """The same reports written by the batch statement and one after the other (each in a rolled-back savepoint):
    same roll-ups, same routing and case rows, the same duplicates (case ids compared by position)."""
    cache = IndexCache()
    bodies = [body(spot, d, category=c, description=f"第{i}件")
              for i, (d, c) in enumerate([(0, "E01001"), (12, "E01001"), (30, "C01001"), (31, "C01001"),
                                          (45, "E01001"), (400, "E01001")])]
    # a working-days category (issue 19): both paths use gridmap_deadline; 30 Sep 10:00 + 3 working days
    # crosses 国庆 and ends on the make-up Saturday 10 Oct 10:00
    bodies.append(body(spot, 60, category="G01001", description="第6件", reported_at="2026-09-30T10:00:00+08:00"))

    def snapshot(outs: list[service.ReportOut]) -> tuple:
        pos = {o.case.id: i for i, o in enumerate(outs)}
        rows = db.execute(text("""SELECT r.category_code, rt.grid_code, rt.method, c.status, c.assignee_id,
                                         c.deadline - r.reported_at AS limit
                                  FROM report r JOIN routing rt ON rt.report_id = r.id
                                  JOIN cases c ON c.report_id = r.id
                                  WHERE r.id = ANY(:ids) ORDER BY r.id"""), {"ids": [o.id for o in outs]}).all()
        dups = [[pos.get(c, f"stored {c}") for c in o.case.duplicates] for o in outs]
        return heat(db), [tuple(r) for r in rows], dups

    sp = db.begin_nested()
    sent: list[tuple[str, str]] = []
    prepared = [Posting(cache, b, None, sent).prepare(db) for b in bodies]
    batch = service.write_batch(db, prepared)
    assert not any(isinstance(o, Exception) for o in batch)
    by_batch = snapshot(batch)
    sp.rollback()
    sp = db.begin_nested()
    one_by_one = [service.create_report(db, cache=cache, body=b, idempotency_key=None, principal=INTAKE,
                                        tolerance_m=50.0, tz="Asia/Shanghai") for b in bodies]
    by_one = snapshot(one_by_one)
    sp.rollback()
    assert by_batch[2] == by_one[2] and by_batch[2][1] == [0] and by_batch[2][4][:2] == [1, 0]
    assert by_batch[1] == by_one[1]
    assert by_batch[1][-1][-1] == timedelta(days=10)
    assert by_batch[0] == by_one[0] and by_batch[0] != heat(db)  # the roll-ups moved, and alike


def test_a_report_that_breaks_the_statement_fails_alone(db: Session, spot) -> None:
    """A NUL character passes validation but cannot be sent to PostgreSQL: the batch statement fails, the
    writer rolls back and writes each report in its own transaction, so only that one is refused."""
    cache = IndexCache()
    sent: list[tuple[str, str]] = []
    plan = [body(spot, 1.0), body(spot, 2.0, description="坏\x00字"), body(spot, 3.0)]
    out, writer = post_together(db, [Posting(cache, b, f"nul-{i}", sent) for i, b in enumerate(plan)])
    assert isinstance(out[1], DataError) and "NUL" in str(out[1])
    assert [o.id for o in (out[0], out[2])] and out[2].case.duplicates == [out[0].case.id]
    assert writer.bulk_items == 0 and writer.items == 1 + 2
    assert len(sent) == 2
    stored = db.execute(text("SELECT idempotency_key FROM report WHERE idempotency_key LIKE 'nul-%' ORDER BY 1"))
    assert stored.scalars().all() == ["nul-0", "nul-2"]


def test_reports_with_an_address_share_the_batch_but_go_one_by_one(db: Session, spot) -> None:
    cache = IndexCache()
    sent: list[tuple[str, str]] = []
    postings = [Posting(cache, body(spot, 1.0), None, sent), Posting(cache, body(spot, 2.0), None, sent),
                Posting(cache, body(spot, 3.0, address="东城区某街道1号"), None, sent)]
    postings[2].batchable = False  # as the router does for a report with an address
    out, writer = post_together(db, postings)
    assert not any(isinstance(o, BaseException) for o in out), out
    assert writer.bulk_items == 2 and out[2].address == "东城区某街道1号" and out[2].address_check is not None
    assert out[2].case.duplicates == [out[1].case.id, out[0].case.id]  # written after the batch statement
    assert len(sent) == 3

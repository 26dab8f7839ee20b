"""The generic bulk-write machinery (api/core/pgload.py): skipping and verifying foreign keys, the pipelined COPY."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.errors import ImportFailed
from api.core.pgload import replica_plan, set_replica, verify_foreign_keys
from api.reports.bulk import OUTBOX_TRIGGER
from api.wall.rollups import HEAT_TRIGGER


def test_a_role_that_may_not_skip_triggers_takes_the_checked_path(db: Session) -> None:
    db.execute(text("CREATE ROLE gridmap_test_plain NOSUPERUSER"))
    db.execute(text("GRANT gridmap_test_plain TO CURRENT_USER"))
    db.execute(text("SET LOCAL ROLE gridmap_test_plain"))
    assert set_replica(db) is False
    db.execute(text("RESET ROLE"))
    assert set_replica(db) is True
    db.execute(text("SET LOCAL session_replication_role = origin"))



def test_a_missing_referenced_row_refuses_the_import(db: Session) -> None:
    fks = replica_plan(db, {"report": pd.DataFrame(columns=["id", "category_code"]),
                             "routing": pd.DataFrame(columns=["report_id", "layout_id"]),
                             "cases": pd.DataFrame(columns=["id", "report_id", "layout_id", "category_code"]),
                             "case_event": pd.DataFrame(columns=["case_id"])}, handled=[HEAT_TRIGGER, OUTBOX_TRIGGER])
    assert fks is not None and {(f.table, f.column) for f in fks} == {
        ("report", "category_code"), ("routing", "report_id"), ("routing", "layout_id"), ("cases", "report_id"),
        ("cases", "layout_id"), ("cases", "category_code"), ("case_event", "case_id")}
    top = db.execute(text("SELECT max(id) FROM grid_layout")).scalar_one()
    frames = {"report": pd.DataFrame({"id": [10**12, 10**12 + 1], "category_code": ["E01001", "E01001"]}),
              "routing": pd.DataFrame({"report_id": [10**12, 10**12 + 1], "layout_id": [top, top + 1]}),
              "cases": pd.DataFrame({"id": [5], "report_id": [10**12], "layout_id": [top],
                                     "category_code": ["E01001"]}),
              "case_event": pd.DataFrame({"case_id": [5]})}
    own = {"report": np.array([10**12, 10**12 + 1]), "cases": np.array([5])}
    with pytest.raises(ImportFailed) as info:
        verify_foreign_keys(db, fks, frames, own=own, phase="before")
    assert info.value.extra["reason"] == "foreign_key" and str(top + 1) in info.value.detail
    frames["routing"]["layout_id"] = [top, top]
    verify_foreign_keys(db, fks, frames, own=own, phase="before")
    with pytest.raises(ImportFailed) as info:  # the reports were never written
        verify_foreign_keys(db, fks, frames, own=own, phase="after")
    assert "report" in info.value.detail





def test_a_copy_refused_midway_stops_the_formatting_thread_and_raises(db: Session, monkeypatch) -> None:
    """The pipelined COPY: PostgreSQL refusing a row in a later chunk is raised to the caller, and the thread
    formatting the chunks ends (it would otherwise wait for ever on a full queue)."""
    import psycopg

    from api.core import pgload

    monkeypatch.setattr(pgload, "COPY_CHUNK", 10)
    ok = pd.DataFrame({"code": [f"T{i:04d}" for i in range(200)], "name": "x", "kind": "event", "major_code": "T",
                       "major_name": "x", "time_limit_hours": 24})
    bad = ok.copy()
    bad.loc[150, "code"] = None  # NOT NULL, in the sixteenth chunk
    before = db.execute(text("SELECT count(*) FROM category")).scalar_one()
    done: list[str] = []
    savepoint = db.begin_nested()
    pgload.copy_frames(db, {"category": ok.iloc[:25]}, done=done.append)  # three chunks
    assert done == ["category"]
    assert db.execute(text("SELECT count(*) FROM category")).scalar_one() == before + 25
    savepoint.rollback()
    with pytest.raises(psycopg.Error), db.begin_nested():
        pgload.copy_frames(db, {"category": bad})
    assert not [t for t in threading.enumerate() if t.name == "gridmap-copy-csv"]
    assert db.execute(text("SELECT count(*) FROM category")).scalar_one() == before

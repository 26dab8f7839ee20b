"""Migration 0028's backfill: events written before note codes get the code of the system note they hold, and a
note a person typed (even one that reads like a system note) keeps none."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

MIGRATION = Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0028_case_event_note_codes.py"


def _backfill() -> list[str]:
    spec = importlib.util.spec_from_file_location("migration_0028", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.backfill()


def test_backfill_gives_old_system_notes_their_codes(db: Session) -> None:
    case_id, person_id, name = db.execute(text("""
        SELECT c.id, p.id, p.name FROM cases c, person p LIMIT 1""")).one()
    rows = [  # (from, to, kind, note, data) as the code wrote them before 0028
        (None, "reported", "transition", "received from hotline_12345 (outside_coverage)", None),
        (None, "reported", "transition", "imported report", None),
        ("reported", "rejected", "transition", "merged into case 7 (并单)", None),
        ("dispatched", "dispatched", "merge", "case 8 (report 9) merged in (并单)", None),
        ("dispatched", "dispatched", "assign", f"reassigned to {name}", f'{{"to_person": {person_id}}}'),
        ("dispatched", "dispatched", "assign", "reassigned to somebody else", f'{{"to_person": {person_id}}}'),
        ("escalated", "escalated", "acknowledge", "department D01 reported (报到) late", None),
        ("dispatched", "dispatched", "assign", "grid - → 110101001001001 (layout 3 published)", None),
        ("dispatched", "resolved", "transition", "imported report, checked on site", None),
    ]
    ids = [db.execute(text("""
        INSERT INTO case_event (case_id, actor, from_status, to_status, kind, note, data)
        VALUES (:c, 'old', :f, :t, :k, :n, CAST(:d AS jsonb)) RETURNING id"""),
        {"c": case_id, "f": f, "t": t, "k": k, "n": n, "d": d}).scalar_one() for f, t, k, n, d in rows]
    conn = db.connection()
    for statement in _backfill():
        conn.exec_driver_sql(statement)
    got = {r.id: (r.note_code, r.note_params) for r in db.execute(text(
        "SELECT id, note_code, note_params FROM case_event WHERE id = ANY(:ids)"), {"ids": ids})}
    assert [got[i] for i in ids] == [
        ("received", {"source": "hotline_12345", "reason": "outside_coverage"}),
        ("imported", None),
        ("merged_into", {"case": 7}),
        ("merged_in", {"case": 8, "report": 9}),
        ("reassigned", {"name": name}),
        (None, None),  # not the name of the person assigned: typed by someone
        ("reported_back", {"department": "D01", "late": True}),
        ("rerouted", {"to": "110101001001001", "layout": 3}),
        (None, None),
    ]
    # the append-only rule is back on
    with pytest.raises(DBAPIError), db.begin_nested():
        db.execute(text("UPDATE case_event SET note = 'x' WHERE id = :i"), {"i": ids[0]})

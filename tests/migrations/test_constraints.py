"""The schema's rules hold in the database itself: each bad row below is refused by PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

SQUARE = "ST_Multi(ST_MakeEnvelope(116.40, 39.90, 116.41, 39.91, 4326))"
GRID_A = f"INSERT INTO grid (layout_id, code, name, boundary) VALUES (:l, '110101001001901', 'a', {SQUARE})"


def refused(db: Session, sql: str, params: dict | None = None, match: str = "") -> str:
    with pytest.raises(DBAPIError) as info, db.begin_nested():
        db.execute(text(sql), params or {})
    message = str(info.value.orig)
    assert match in message, message
    return message


def _draft(db: Session) -> int:
    return db.execute(text("INSERT INTO grid_layout (name) VALUES ('t') RETURNING id")).scalar_one()


def test_schema_is_at_head_and_every_geometry_column_is_4326_with_a_gist_index(db: Session) -> None:
    rows = db.execute(text("SELECT f_table_name, f_geometry_column, srid, type FROM geometry_columns "
                           "WHERE f_table_schema = 'public'")).all()
    assert {r.f_table_name for r in rows} >= {"street", "community", "grid", "building", "address", "facility",
                                               "report"}
    assert {r.srid for r in rows} == {4326}
    for table, column, _, _ in rows:
        idx = db.execute(text("""SELECT count(*) FROM pg_indexes WHERE tablename = :t
                                 AND indexdef ILIKE '%USING gist (' || :c || ')%'"""), {"t": table, "c": column})
        assert idx.scalar_one() == 1, f"{table}.{column} has no GiST index"


def test_invalid_and_wrongly_typed_geometries_are_refused(db: Session) -> None:
    bowtie = ("ST_Multi(ST_GeomFromText("
              "'POLYGON((116.4 39.9, 116.41 39.91, 116.41 39.9, 116.4 39.91, 116.4 39.9))', 4326))")
    lid = _draft(db)
    refused(db, f"INSERT INTO grid (layout_id, code, name, boundary) VALUES (:l, '110101001001901', 'x', {bowtie})",
            {"l": lid}, "grid_boundary_check")
    refused(db, "INSERT INTO building (code, footprint) VALUES ('b', ST_MakePoint(116.4, 39.9)::geometry(Point, 4326))",
            match="Geometry type (Point) does not match column type (Polygon)")
    refused(db, "INSERT INTO facility (code, kind, name, location) VALUES "
                "('f', 'clinic', 'x', ST_SetSRID(ST_MakePoint(116.4, 39.9), 3857))", match="SRID")


def test_grid_codes_are_hierarchical_and_unique_within_a_layout(db: Session) -> None:
    lid = _draft(db)
    refused(db, f"INSERT INTO grid (layout_id, code, name, boundary) VALUES (:l, '12345', 'x', {SQUARE})",
            {"l": lid}, "grid_code_check")
    # The code must start with its community's code.
    refused(db, f"""INSERT INTO grid (layout_id, code, name, community_code, boundary)
                    SELECT :l, '999999999999001', 'x', code, {SQUARE} FROM community LIMIT 1""",
            {"l": lid}, "ck_grid_code_in_community")
    db.execute(text(GRID_A), {"l": lid})
    refused(db, f"INSERT INTO grid (layout_id, code, name, boundary) VALUES (:l, '110101001001901', 'b', {SQUARE})",
            {"l": lid}, "uq_grid_layout_code")
    # The same code in another layout is fine: codes survive a redraw.
    other = _draft(db)
    db.execute(text(GRID_A), {"l": other})


def test_published_layout_periods_never_overlap(db: Session) -> None:
    # The sample's layout is in force from 2026-01-01 with no end: a second open period overlaps it.
    refused(db, """INSERT INTO grid_layout (name, status, effective_from)
                   VALUES ('overlapping', 'published', '2026-06-01T00:00:00+08')""", match="ex_grid_layout_periods")
    # Drafts have no period and do not collide; a period that ends before is fine.
    _draft(db)
    db.execute(text("""INSERT INTO grid_layout (name, status, effective_from, effective_to)
                       VALUES ('old', 'retired', '2025-01-01T00:00:00+08', '2026-01-01T00:00:00+08')"""))
    refused(db, "INSERT INTO grid_layout (name, status) VALUES ('no start', 'published')",
            match="ck_grid_layout_in_force_has_start")


def test_case_event_is_append_only(db: Session) -> None:
    event_id = db.execute(text("SELECT id FROM case_event LIMIT 1")).scalar_one()
    refused(db, "UPDATE case_event SET note = 'rewritten' WHERE id = :id", {"id": event_id}, "append-only")
    refused(db, "DELETE FROM case_event WHERE id = :id", {"id": event_id}, "append-only")
    refused(db, "TRUNCATE case_event CASCADE", match="append-only")
    case_id = db.execute(text("SELECT case_id FROM case_event WHERE id = :id"), {"id": event_id}).scalar_one()
    db.execute(text("INSERT INTO case_event (case_id, actor, from_status, to_status) "
                    "VALUES (:c, 'test', NULL, 'reported')"), {"c": case_id})


def test_report_source_and_idempotency_key_are_unique(db: Session) -> None:
    insert = """INSERT INTO report (source, idempotency_key, reported_at, location)
                VALUES ('mini_program', :k, now(), ST_SetSRID(ST_MakePoint(116.41, 39.91), 4326))"""
    db.execute(text(insert), {"k": "abc-123"})
    refused(db, insert, {"k": "abc-123"}, "uq_report_source_idempotency_key")
    # A report must say where it is, by a point or by an address.
    refused(db, "INSERT INTO report (source, reported_at) VALUES ('hotline_12345', now())",
            match="ck_report_has_place")
    refused(db, """INSERT INTO report (source, reported_at, location)
                   VALUES ('x', now(), ST_SetSRID(ST_MakePoint(39.9, 116.4), 4326))""", match="report_location_check")


def test_routing_and_case_rules(db: Session) -> None:
    report_id = db.execute(text("SELECT id FROM report LIMIT 1")).scalar_one()
    refused(db, "INSERT INTO routing (report_id, method) VALUES (:r, 'inside')", {"r": report_id},
            "ck_routing_grid_iff_routed")
    refused(db, "INSERT INTO routing (report_id, method) VALUES (:r, 'unrouted')", {"r": report_id},
            "ck_routing_unrouted_has_reason")
    refused(db, "INSERT INTO cases (report_id, status) VALUES (:r, 'closed')", {"r": report_id},
            "ck_cases_closed_at")
    refused(db, "INSERT INTO cases (report_id, status) VALUES (:r, 'lost')", {"r": report_id}, "cases_status_check")

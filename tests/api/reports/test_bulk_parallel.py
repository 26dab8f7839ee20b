"""The parallel bulk import: its second half (cases, events, heat roll-ups) is prepared on a connection of its own
and committed or rolled back with the caller's transaction. These tests commit, so they run in a database of
their own, cloned from the seeded template and dropped afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from api.core.pgload import PREPARED_PREFIX, prepared_transactions, resolve_prepared_imports
from api.reports.bulk import import_reports
from tests.api.reports.test_bulk import archive, heat
from tests.conftest import TEST_URL


@pytest.fixture(scope="module")
def own_engine() -> Iterator[Engine]:
    from api.core.config import get_settings
    from api.core.db import make_engine
    from api.devtools.seeded import create_seeded_database, drop_database

    url = make_url(TEST_URL)
    url = url.set(database=f"{url.database}_bulkpar").render_as_string(hide_password=False)
    create_seeded_database(url)
    eng = make_engine(get_settings(), url=url, pool_size=3)
    with Session(eng) as s:
        if not prepared_transactions(s):
            pytest.skip("the server has max_prepared_transactions = 0 (scripts/pg.sh sets 8): the import is serial")
    yield eng
    eng.dispose()
    drop_database(url)


def prepared(engine: Engine) -> list[str]:
    with engine.connect() as c:
        # pg_prepared_xacts is the cluster's: another pytest worker's import in its own database shows there too
        return c.execute(text("SELECT gid FROM pg_prepared_xacts WHERE gid LIKE :p AND database = current_database()"),
                         {"p": f"{PREPARED_PREFIX}:%"}).scalars().all()


def counts(engine: Engine, source: str) -> tuple[int, int, int, int]:
    with engine.connect() as c:
        return c.execute(text("""
            SELECT count(*), count(rt.id), count(k.id), (SELECT count(*) FROM case_event e JOIN cases k2
                ON k2.id = e.case_id JOIN report r2 ON r2.id = k2.report_id WHERE r2.source = :s)
            FROM report r LEFT JOIN routing rt ON rt.report_id = r.id LEFT JOIN cases k ON k.report_id = r.id
            WHERE r.source = :s"""), {"s": source}).one()


def test_both_halves_commit_together_and_the_counts_stay_exact(own_engine: Engine) -> None:
    with Session(own_engine) as s:
        frame = archive(s, 600)
        frame["source"] = "par_commit"
        res = import_reports(s, frame=frame, parallel=True)
        assert "wait" in res.phases and {"cases", "events", "heat"} <= set(res.phases)  # the second half ran
        assert len(prepared(own_engine)) == 1  # ...and waits, prepared, for this transaction
        assert counts(own_engine, "par_commit") == (0, 0, 0, 0)  # nothing visible outside yet
        s.commit()
    assert prepared(own_engine) == []
    assert counts(own_engine, "par_commit") == (600, 600, 600, res.events)
    with Session(own_engine) as s:  # the roll-ups the second half wrote equal a rebuild from the cases
        counted = heat(s)
        s.execute(text("SELECT gridmap_heat_rebuild()"))
        assert heat(s) == counted
        s.rollback()


def test_a_rolled_back_import_leaves_nothing_behind(own_engine: Engine) -> None:
    with Session(own_engine) as s:
        frame = archive(s, 300)
        frame["source"] = "par_rollback"
        before = heat(s)
        s.rollback()
        import_reports(s, frame=frame, parallel=True)
        assert len(prepared(own_engine)) == 1
        s.rollback()
        assert prepared(own_engine) == []
        assert counts(own_engine, "par_rollback") == (0, 0, 0, 0)
        assert heat(s) == before


def test_a_failure_on_the_second_half_fails_the_import_and_leaves_nothing(own_engine: Engine, monkeypatch) -> None:
    from api.wall import rollups

    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("the heat roll-ups could not be written")

    monkeypatch.setattr(rollups, "add_heat", broken)
    with Session(own_engine) as s:
        frame = archive(s, 50)
        frame["source"] = "par_failed"
        with pytest.raises(RuntimeError, match="could not be written"):
            import_reports(s, frame=frame, parallel=True)
        assert prepared(own_engine) == []  # the half that failed was rolled back, not prepared
        s.rollback()
    assert counts(own_engine, "par_failed") == (0, 0, 0, 0)


def test_a_failure_on_the_callers_half_stops_the_second_half(own_engine: Engine, monkeypatch) -> None:
    """The reports' COPY fails: the second half is cancelled rather than left to write on and be prepared
    for a rollback."""
    from api.core import pgload

    copy = pgload.copy_frames

    def failing_reports(session: Session, frames: dict, **kw: object) -> None:
        if "report" in frames:
            raise RuntimeError("the reports could not be written")
        copy(session, frames, **kw)

    monkeypatch.setattr(pgload, "copy_frames", failing_reports)
    with Session(own_engine) as s:
        frame = archive(s, 1000)
        frame["source"] = "par_main_failed"
        with pytest.raises(RuntimeError, match="reports could not be written"):
            import_reports(s, frame=frame, parallel=True)
        assert prepared(own_engine) == []  # stopped before it prepared (not merely rolled back afterwards)
        s.rollback()
    assert counts(own_engine, "par_main_failed") == (0, 0, 0, 0)


def test_the_checked_path_stays_on_one_connection(own_engine: Engine) -> None:
    with Session(own_engine) as s:
        frame = archive(s, 40)
        frame["source"] = "par_checked"
        res = import_reports(s, frame=frame, parallel=True, fk_triggers=True)
        assert "wait" not in res.phases and prepared(own_engine) == []
        s.rollback()


@pytest.mark.parametrize("ending", ["commit", "rollback"])
def test_a_half_left_prepared_by_a_crash_follows_its_callers_transaction(own_engine: Engine, ending: str) -> None:
    """What the session events do after a commit or rollback, the resolver does for a process that died in
    between (the next import, the due-work round): by the caller's transaction id in the prepared name."""
    with own_engine.connect() as caller, own_engine.connect() as half:
        caller.begin()
        xid = caller.execute(text("SELECT pg_current_xact_id()::text")).scalar_one()
        gid = f"{PREPARED_PREFIX}:{xid}:test{ending}"
        half.begin()
        half.execute(text("CREATE TABLE par_half_marker (x int)"))
        half.connection.driver_connection.execute(f"PREPARE TRANSACTION '{gid}'")
        half.invalidate()
        assert resolve_prepared_imports(own_engine) == []  # the caller is still in progress: left alone
        assert gid in prepared(own_engine)
        caller.commit() if ending == "commit" else caller.rollback()
    assert resolve_prepared_imports(own_engine) == [(gid, "committed" if ending == "commit" else "rolled back")]
    assert gid not in prepared(own_engine)
    with own_engine.begin() as c:
        exists = c.execute(text("SELECT to_regclass('par_half_marker') IS NOT NULL")).scalar_one()
        c.execute(text("DROP TABLE IF EXISTS par_half_marker"))
    assert exists == (ending == "commit")




def test_gridmap_import_reports_commits_both_halves(own_engine: Engine, tmp_path, monkeypatch) -> None:
    """The command line imports in parallel and commits at once: everything is there when it returns."""
    from typer.testing import CliRunner

    from api.cli import app
    from api.core.config import get_settings

    with Session(own_engine) as s:
        frame = archive(s, 200)
    frame["source"] = "par_cli"
    frame.rename(columns={"_x": "lon", "_y": "lat"}).to_csv(tmp_path / "archive.csv", index=False)
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", own_engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["import", "reports", str(tmp_path / "archive.csv")])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "second connection" in result.output
    assert prepared(own_engine) == []
    n, routed, cases, events = counts(own_engine, "par_cli")
    assert (n, routed, cases) == (200, 200, 200) and events >= 200

"""`gridmap backup` / `gridmap restore`: a round trip through pg_dump / pg_restore gives back the same rows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from api.core.config import ROOT
from api.devtools.seeded import _admin_engine, drop_database

KEY_TABLES = ("grid_layout", "grid", "community", "street", "building", "address", "person", "category", "report",
              "routing", "cases", "case_event", "api_key", "alembic_version")


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "GRIDMAP_DATABASE_URL": url, "COLUMNS": "200"}, timeout=600)


def _fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent checksum of every key table, plus the sequences' positions."""
    engine = create_engine(url)
    out = {}
    with engine.connect() as conn:
        for t in KEY_TABLES:
            out[t] = conn.execute(text(
                f"SELECT count(*), md5(coalesce(string_agg(md5(x::text), '' ORDER BY md5(x::text)), '')) FROM {t} x"
            )).one()._tuple()
        out["report_id_seq"] = (conn.execute(text("SELECT last_value FROM report_id_seq")).scalar_one(), "")
    engine.dispose()
    return out


@pytest.fixture
def empty_db(engine: Engine) -> str:
    url = make_url(engine.url).set(database=f"{engine.url.database}_restore").render_as_string(hide_password=False)
    drop_database(url)
    admin = _admin_engine(url)
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{make_url(url).database}"'))
    admin.dispose()
    yield url
    drop_database(url)


def test_backup_then_restore_into_an_empty_database_gives_the_same_rows(engine: Engine, empty_db: str,
                                                                         tmp_path: Path) -> None:
    source = engine.url.render_as_string(hide_password=False)
    file = tmp_path / "gridmap.dump"
    done = _cli(source, "backup", str(file))
    assert done.returncode == 0, done.stderr + done.stdout
    assert file.is_file() and file.stat().st_size > 100_000 and not file.with_name("gridmap.dump.partial").exists()
    assert "wrote" in done.stdout and "tables" in done.stdout

    restored = _cli(empty_db, "restore", str(file))
    assert restored.returncode == 0, restored.stderr + restored.stdout
    before, after = _fingerprint(source), _fingerprint(empty_db)
    assert after == before
    assert before["report"][0] > 1000 and before["grid"][0] > 10  # the comparison is over real data

    # A second restore over the now non-empty database is refused without --force, and changes nothing.
    engine2 = create_engine(empty_db)
    with engine2.begin() as conn:
        conn.execute(text("UPDATE person SET name = name || $$(改)$$ WHERE id = (SELECT min(id) FROM person)"))
    engine2.dispose()
    changed = _fingerprint(empty_db)
    refused = _cli(empty_db, "restore", str(file))
    assert refused.returncode == 2 and "--force" in refused.stdout + refused.stderr
    assert _fingerprint(empty_db) == changed
    forced = _cli(empty_db, "restore", "--force", str(file))
    assert forced.returncode == 0, forced.stderr + forced.stdout
    assert "replacing" in forced.stdout
    assert _fingerprint(empty_db) == before


def test_bad_files_and_unreachable_databases_fail_clearly(engine: Engine, empty_db: str, tmp_path: Path) -> None:
    junk = tmp_path / "junk.dump"
    junk.write_bytes(b"not a backup")
    bad = _cli(empty_db, "restore", str(junk))
    assert bad.returncode == 1 and "error" in bad.stderr.lower() and "junk.dump" in bad.stderr
    missing = _cli(empty_db, "restore", str(tmp_path / "nope.dump"))
    assert missing.returncode == 1 and "no such file" in missing.stderr
    down = _cli("postgresql://gridmap@127.0.0.1:1/gridmap", "backup", str(tmp_path / "x.dump"))
    assert down.returncode == 1 and "pg_dump failed" in down.stderr
    assert not (tmp_path / "x.dump").exists() and not (tmp_path / "x.dump.partial").exists()

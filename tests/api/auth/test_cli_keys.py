"""The key commands of the CLI: they say which database they write to, take the roles of the role table, and
``ensure-local`` gives the wall link a viewer key and retires the old commander key (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.cli import app
from tests.conftest import TEST_URL


def test_a_writing_command_names_its_database_and_takes_the_old_role_name(engine: Engine) -> None:
    res = CliRunner().invoke(app, ["keys", "create", "--name", "cli test", "--role", "commander"])
    assert res.exit_code == 0, res.output
    url = make_url(TEST_URL)
    assert f"database: {url.database} on {url.host}:{url.port}" in res.stderr
    assert "(dispatcher)" in res.stdout
    listed = CliRunner().invoke(app, ["keys", "list"])
    assert listed.exit_code == 0 and "database:" not in listed.stderr  # a read says nothing


def test_ensure_local_links_the_wall_with_a_viewer_key_and_revokes_the_old_commander_key(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.auth.service import create_key
    from api.core.config import get_settings

    monkeypatch.setenv("GRIDMAP_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        with Session(engine) as s:  # a key made by an earlier version, then renamed by migration 0014
            key, raw = create_key(s, name="local commander (make run)", role="dispatcher")
            key_id = key.id
            s.commit()
        (tmp_path / "commander-api-key").write_text(raw + "\n")
        res = CliRunner().invoke(app, ["keys", "ensure-local"])
        assert res.exit_code == 0, res.output
        assert not (tmp_path / "commander-api-key").exists()
        viewer = (tmp_path / "viewer-api-key").read_text().strip()
        assert f"#key={viewer}" in res.stdout
        with Session(engine) as s:
            assert s.execute(text("SELECT revoked_at IS NOT NULL FROM api_key WHERE id = :i"), {"i": key_id}).scalar()
            assert s.execute(text("SELECT role FROM api_key WHERE key_hash = encode(sha256(:r), 'hex')"),
                             {"r": viewer.encode()}).scalar() == "viewer"
    finally:
        get_settings.cache_clear()

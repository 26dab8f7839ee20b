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


def test_ensure_local_prints_no_credential_in_a_link_and_revokes_the_old_wall_keys(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.auth.service import create_key
    from api.core.config import get_settings

    monkeypatch.setenv("GRIDMAP_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        ids = []
        with Session(engine) as s:  # keys made by earlier versions for the wall link (commander: renamed by 0014)
            for name, role in (("commander-api-key", "dispatcher"), ("viewer-api-key", "viewer")):
                key, raw = create_key(s, name=f"local {role} (make run)", role=role)
                ids.append(key.id)
                (tmp_path / name).write_text(raw + "\n")
            s.commit()
        res = CliRunner().invoke(app, ["keys", "ensure-local"])
        assert res.exit_code == 0, res.output
        assert not (tmp_path / "commander-api-key").exists() and not (tmp_path / "viewer-api-key").exists()
        assert "#key=" not in res.stdout and "/admin.html" in res.stdout  # a wall screen is paired, not linked
        assert (tmp_path / "admin-password").stat().st_mode & 0o777 == 0o600
        with Session(engine) as s:
            assert s.execute(text("SELECT bool_and(revoked_at IS NOT NULL) FROM api_key WHERE id = ANY(:i)"),
                             {"i": ids}).scalar()
    finally:
        get_settings.cache_clear()

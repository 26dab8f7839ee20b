"""Fixtures of the planner workspace tests: a draft copied from the published sample layout (inside the
test's rolled-back transaction), helpers to post edits and to fingerprint a draft."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.planner.service import checksum
from tests.api.conftest import problem  # noqa: F401 - re-exported for the planner tests


def published_id(db: Session) -> int:
    return db.execute(text("""SELECT id FROM grid_layout WHERE status = 'published'
                              AND tstzrange(effective_from, effective_to, '[)') @> now()""")).scalar_one()


@dataclass
class Draft:
    id: int
    client: httpx.Client
    headers: dict[str, str]
    db: Session

    @property
    def revision(self) -> int:
        return self.db.execute(text("SELECT revision FROM grid_layout WHERE id = :id"), {"id": self.id}).scalar_one()

    def checksum(self) -> str:
        return checksum(self.db, self.id)

    def edit(self, op: str, *, base: int | None = None, **fields: Any) -> httpx.Response:
        body = {"base_revision": self.revision if base is None else base, "op": op, **fields}
        return self.client.post(f"/api/v1/layouts/{self.id}/edits", json=body, headers=self.headers)

    def ok(self, op: str, **fields: Any) -> dict:
        resp = self.edit(op, **fields)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def undo(self, base: int | None = None) -> httpx.Response:
        return self.client.post(f"/api/v1/layouts/{self.id}/undo",
                                json={"base_revision": self.revision if base is None else base}, headers=self.headers)

    def grid(self, code: str) -> Any:
        return self.db.execute(text("""
            SELECT code, name, community_code, households, population, properties, ST_AsText(boundary) AS wkt,
                   ST_Area(CAST(boundary AS geography)) AS area FROM grid WHERE layout_id = :l AND code = :c"""),
            {"l": self.id, "c": code}).first()


@pytest.fixture
def planner(auth: Callable[[str], dict[str, str]]) -> dict[str, str]:
    return auth("planner")


@pytest.fixture
def draft(client: httpx.Client, db: Session, planner: dict[str, str], quiet_app: None) -> Draft:
    resp = client.post("/api/v1/layouts", json={"name": "test draft", "copy_of": None}, headers=planner)
    assert resp.status_code == 201, resp.text
    return Draft(resp.json()["id"], client, planner, db)


@pytest.fixture
def quiet_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LISTEN thread in the test app (its shutdown costs up to a second per test; nothing here commits)."""
    from api.core.config import get_settings

    monkeypatch.setattr(get_settings(), "listen", False)

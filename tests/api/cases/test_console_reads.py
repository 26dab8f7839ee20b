"""What the command-centre console reads (issue 18): the queue filtered by source and by text, the timeline's
actors as people (name and role, never a key name), departments for dispatch and whistles, categories with
pinyin initials for the operator's picker, and people found by name for pickers."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.conftest import PASSWORD

pytestmark = pytest.mark.usefixtures("quiet_app")


def test_queue_filters_by_text_and_source(client: httpx.Client, auth, db: Session, make_case, grid_a) -> None:
    h = auth("admin")
    cid = make_case(grid_a, "reported")
    db.execute(text("UPDATE report SET description = '独一无二的井盖 xq9', source = 'mini_program' "
                    "WHERE id = (SELECT report_id FROM cases WHERE id = :c)"), {"c": cid})
    hit = client.get("/api/v1/cases", params={"q": "井盖 xq9"}, headers=h).json()
    assert [c["id"] for c in hit["items"]] == [cid] and hit["total"] == 1
    assert client.get("/api/v1/cases", params={"q": str(cid)}, headers=h).json()["items"][0]["id"] == cid
    by_source = client.get("/api/v1/cases", params={"q": "xq9", "source": "mini_program"}, headers=h).json()
    assert by_source["total"] == 1
    assert client.get("/api/v1/cases", params={"q": "xq9", "source": "patrol"}, headers=h).json()["total"] == 0
    assert client.get("/api/v1/cases", params={"source": "NOT VALID"}, headers=h).status_code == 422


def test_timeline_names_people_not_keys(client: httpx.Client, auth, db: Session, make_case, grid_a) -> None:
    from api.users.schemas import UserCreate
    from api.users.service import create_user

    create_user(db, body=UserCreate(username="chen.admin", password=PASSWORD, role="admin", display_name="陈主任"))
    tok = client.post("/api/v1/auth/token", data={"username": "chen.admin", "password": PASSWORD}).json()
    cid = make_case(grid_a, "reported")
    r = client.post(f"/api/v1/cases/{cid}/transitions", json={"to": "registered"},
                    headers={"Authorization": f"Bearer {tok['access_token']}"})
    assert r.status_code == 200, r.text
    events = client.get(f"/api/v1/cases/{cid}", headers=auth("admin")).json()["events"]
    last = events[-1]
    assert (last["actor"], last["actor_name"], last["actor_role"]) == ("user:chen.admin", "陈主任", "admin")
    assert events[0]["actor_name"] is None  # not a user: the page says "system"


def test_departments_initials_and_people_by_name(client: httpx.Client, auth, db: Session, grid_a) -> None:
    h = auth("admin")
    deps = client.get("/api/v1/departments", headers=h).json()["items"]
    assert deps and {"code", "name", "name_en"} <= set(deps[0])
    cats = {c["name"]: c for c in client.get("/api/v1/categories", headers=h).json()["items"]}
    from pypinyin import Style, lazy_pinyin

    for name, c in list(cats.items())[:20]:
        assert c["initials"] == "".join(p[0] for p in lazy_pinyin(name, style=Style.FIRST_LETTER)
                                        if p and p[0].isalnum()).lower()
    name = db.execute(text("SELECT name FROM person WHERE id = :i"), {"i": grid_a.worker_id}).scalar_one()
    found = client.get("/api/v1/people", params={"q": name, "limit": 50}, headers=h).json()["items"]
    assert grid_a.worker_id in [p["id"] for p in found] and all(name in p["name"] for p in found)

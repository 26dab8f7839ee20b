"""Concurrency with real commits against a live server (issue 9): planners publishing at once, routing at full
rate while a layout is published, two clients editing one draft.

These tests commit, in the database the whole suite shares. They publish with a *future* effective date
and route with ``at=``, so the layout in force now never changes, and a fixture puts everything back
(the layouts they made deleted, the old layout's period and status restored) whatever happens.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.core.config import get_settings
from api.planner import schemas, service


class Committed:
    """Drafts made with real commits, and the means to undo everything they did."""

    def __init__(self, engine: Engine) -> None:
        from api.auth.service import create_key

        self.engine = engine
        self.made: list[int] = []
        with Session(engine) as s:
            self.old = s.execute(text("""SELECT id FROM grid_layout WHERE status = 'published'
                                         AND effective_to IS NULL""")).scalar_one()
            self.old_period = s.execute(text("SELECT status, effective_to FROM grid_layout WHERE id = :id"),
                                        {"id": self.old}).one()
            self.now = s.execute(text("SELECT now()")).scalar_one()
            _, self.admin = create_key(s, name="planner concurrency", role="admin")
            _, self.planner = create_key(s, name="planner concurrency", role="planner")
            s.commit()

    def draft(self, name: str, edit: schemas.Merge | None = None) -> int:
        with Session(self.engine) as s:
            lid = service.create_copy(s, name=name, copy_of=self.old, note="test_concurrency")
            if edit is not None:
                service.apply_edit(s, layout_id=lid, body=edit, actor="test", settings=get_settings())
            s.commit()
        self.made.append(lid)
        return lid

    def restore(self) -> None:
        with Session(self.engine) as s:
            s.execute(text("DELETE FROM grid_layout WHERE id = ANY(:ids) OR note = 'test_concurrency'"),
                      {"ids": self.made})
            s.execute(text("UPDATE grid_layout SET status = :st, effective_to = :to WHERE id = :id"),
                      {"st": self.old_period.status, "to": self.old_period.effective_to, "id": self.old})
            s.commit()


@pytest.fixture
def committed(engine: Engine) -> Iterator[Committed]:
    c = Committed(engine)
    try:
        yield c
    finally:
        c.restore()


def merge_pair(engine: Engine, layout_id: int) -> tuple[str, str]:
    with Session(engine) as s:
        return tuple(s.execute(text("""
            SELECT a.code, b.code FROM grid a JOIN grid b ON a.layout_id = b.layout_id AND a.code < b.code
              AND a.community_code = b.community_code AND a.boundary && b.boundary
            WHERE a.layout_id = :l AND ST_Length(CAST(ST_Intersection(ST_Boundary(a.boundary),
                                                                      ST_Boundary(b.boundary)) AS geography)) > 50
            ORDER BY a.code OFFSET 40 LIMIT 1"""), {"l": layout_id}).one())


def publish(base: str, key: str, layout_id: int, at: datetime, revision: int = 0) -> httpx.Response:
    return httpx.post(f"{base}/api/v1/layouts/{layout_id}/publish", timeout=60,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"base_revision": revision, "effective_from": at.isoformat(),
                            "override_reason": "concurrency test (the sample's planted defects)"})


def test_planners_publishing_at_once_one_wins_the_others_get_409(live_server: str, committed: Committed) -> None:
    d1, d2 = committed.draft("race 1"), committed.draft("race 2")
    at = committed.now + timedelta(days=3)
    barrier = threading.Barrier(3)

    def go(lid: int) -> httpx.Response:
        barrier.wait()
        return publish(live_server, committed.admin, lid, at)

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(go, [d1, d1, d2]))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200, 409, 409], [r.text for r in answers]
    assert {r.json()["code"] for r in answers if r.status_code == 409} <= {"layout_not_draft", "publish_conflict"}
    winner = next(r.json()["id"] for r in answers if r.status_code == 200)
    with Session(committed.engine) as s:
        rows = s.execute(text("""SELECT id, status, effective_from, effective_to FROM grid_layout
                                 WHERE status IN ('published', 'retired') ORDER BY effective_from""")).all()
        assert [r.id for r in rows][-2:] == [committed.old, winner]
        assert rows[-2].effective_to == rows[-1].effective_from == at
        assert s.execute(text("SELECT count(*) FROM layout_publish WHERE layout_id = ANY(:ids)"),
                         {"ids": [d1, d2]}).scalar_one() == 1


def test_routing_at_full_rate_while_publishing_sees_one_layout_or_the_other(
        live_server: str, committed: Committed) -> None:
    a, b = merge_pair(committed.engine, committed.old)
    draft = committed.draft("routed while published", schemas.Merge(op="merge", base_revision=0, codes=[a, b],
                                                                    keep=a))
    with Session(committed.engine) as s:
        pts = s.execute(text("""
            SELECT ST_X(p) AS x, ST_Y(p) AS y FROM (
                SELECT ST_PointOnSurface(boundary) AS p, code FROM grid WHERE layout_id = :l
                  AND boundary && (SELECT ST_Expand(boundary, 0.01) FROM grid WHERE layout_id = :l AND code = :b)
                UNION ALL SELECT (ST_DumpPoints(ST_GeneratePoints(boundary, 20, 7))).geom, code FROM grid
                WHERE layout_id = :l AND code IN (:a, :b)) t ORDER BY code, x"""),
            {"l": committed.old, "a": a, "b": b}).all()

        def expected(layout_id: int) -> list[str | None]:
            return [s.execute(text("""SELECT min(code) FROM grid WHERE layout_id = :l
                                      AND ST_Covers(boundary, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"""),
                              {"l": layout_id, "x": p.x, "y": p.y}).scalar() for p in pts]

        old_codes, new_codes = expected(committed.old), expected(draft)
    assert old_codes != new_codes and b in old_codes and b not in new_codes
    at = committed.now + timedelta(days=5)
    body = {"crs": "wgs84", "points": [[p.x, p.y] for p in pts]}
    stop = threading.Event()
    seen: list[tuple[float, int, list[str | None]]] = []
    errors: list[str] = []

    def router() -> None:
        with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {committed.planner}"}) as c:
            while not stop.is_set():
                r = c.post(f"{live_server}/api/v1/locate", params={"at": (at + timedelta(hours=1)).isoformat()},
                           json=body)
                if r.status_code != 200:
                    errors.append(r.text)
                    continue
                doc = r.json()
                seen.append((time.monotonic(), doc["layout"]["id"], [x["grid"] for x in doc["results"]]))

    threads = [threading.Thread(target=router) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(seen) < 6 and not errors:
            time.sleep(0.05)  # routing runs (the index of the old layout is built) before the publish
        published_at = time.monotonic()
        resp = publish(live_server, committed.admin, draft, at, revision=1)
        assert resp.status_code == 200, resp.text
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(lid == draft for _, lid, _ in seen):
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    assert len(seen) > 10
    for _, lid, codes in seen:
        assert (lid, codes) in ((committed.old, old_codes), (draft, new_codes)), (lid, codes)
    assert any(lid == committed.old and when < published_at for when, lid, _ in seen)
    assert seen[-1][1] == draft  # after the publish, the new layout
    # and as of a date: before the moment, the old layout; after it, the new one
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {committed.planner}"}) as c:
        for when, want in ((at - timedelta(minutes=1), committed.old), (at + timedelta(minutes=1), draft)):
            doc = c.post(f"{live_server}/api/v1/locate", params={"at": when.isoformat()}, json=body).json()
            assert doc["layout"]["id"] == want


def test_two_browsers_editing_one_draft_lose_nothing(live_server: str, committed: Committed) -> None:
    draft = committed.draft("two browsers")
    with Session(committed.engine) as s:
        codes = s.execute(text("SELECT code FROM grid WHERE layout_id = :l ORDER BY code LIMIT 12"),
                          {"l": draft}).scalars().all()
    barrier = threading.Barrier(2)

    def browser(i: int) -> list[int]:
        """Rename six grids, each time against the revision it last saw; on a conflict, reload and retry."""
        got: list[int] = []
        with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {committed.planner}"}) as c:
            rev = c.get(f"{live_server}/api/v1/layouts/{draft}").json()["revision"]
            barrier.wait()
            for code in codes[i::2]:
                while True:
                    r = c.post(f"{live_server}/api/v1/layouts/{draft}/edits", json={
                        "base_revision": rev, "op": "update_attrs", "code": code, "name": f"browser {i}"})
                    got.append(r.status_code)
                    if r.status_code == 200:
                        rev = r.json()["revision"]
                        break
                    assert r.status_code == 409 and r.json()["code"] == "revision_conflict", r.text
                    rev = r.json()["revision"]
        return got

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(browser, [0, 1]))
    assert sum(r.count(200) for r in results) == 12
    with Session(committed.engine) as s:
        names = dict(s.execute(text("SELECT code, name FROM grid WHERE layout_id = :l AND code = ANY(:c)"),
                               {"l": draft, "c": codes}).all())
        rev = s.execute(text("SELECT revision FROM grid_layout WHERE id = :l"), {"l": draft}).scalar_one()
    assert names == {c: f"browser {k % 2}" for k, c in enumerate(codes)} and rev == 12

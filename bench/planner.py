"""Planner workspace benchmarks (issue 8), on the sample district in the bench database.

* planner_validation: validating a draft right after an edit (a new revision, nothing cached but the
  unchanging communities and buildings) vs the coverage endpoint's path (every table fetched, then the same
  analysis). The target is about a second on the sample.
* planner_impact: the impact preview (grid-by-grid index joins on the buildings' stored representative
  points) vs the same answer from per-point probes (``ST_PointOnSurface`` of every footprint, then one grid
  lookup a point and layout).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.config import get_settings


def _setup(url: str) -> tuple[Callable[[], Session], int, int]:
    from api.core.db import make_engine
    from api.planner import service

    os.environ["GRIDMAP_DATABASE_URL"] = url
    get_settings.cache_clear()
    engine = make_engine(get_settings(), url=url, pool_size=2)
    with Session(engine) as s:
        pub = s.execute(text("SELECT id FROM grid_layout WHERE status = 'published' AND effective_to IS NULL")
                        ).scalar_one()
        s.execute(text("DELETE FROM grid_layout WHERE note = 'bench planner'"))
        draft = service.create_copy(s, name="bench draft", copy_of=pub, note="bench planner")
        s.commit()
    return (lambda: Session(engine)), pub, draft


def planner_validation(url: str, repeat: int) -> dict:
    from api.coverage.service import load_layout, run
    from api.planner import checks, schemas, service
    from bench.common import interleaved
    from geo.coverage import Tolerances

    session, _, draft = _setup(url)
    settings = get_settings()
    code = None

    def ours() -> None:
        nonlocal code
        with session() as s:
            rev = s.execute(text("SELECT revision FROM grid_layout WHERE id = :l"), {"l": draft}).scalar_one()
            code = code or s.execute(text("SELECT min(code) FROM grid WHERE layout_id = :l"), {"l": draft}).scalar()
            service.apply_edit(s, layout_id=draft, body=schemas.UpdateAttrs(
                op="update_attrs", base_revision=rev, code=code, population=rev), actor="bench", settings=settings)
            s.commit()
            checks.validation(s, layout_id=draft, settings=settings)

    def baseline() -> None:
        with session() as s:
            data = load_layout(s, layout_id=draft, win=checks.NO_REPORTS)
            run(data, Tolerances())

    try:
        t_ours, t_base = interleaved(ours, baseline, repeat)
    finally:
        with session() as s:
            s.execute(text("DELETE FROM grid_layout WHERE id = :l"), {"l": draft})
            s.commit()
    return {"name": "planner_validation", "value": round(t_ours * 1000, 1), "unit": "ms",
            "baseline": round(t_base * 1000, 1), "baseline_name": "coverage.load_layout + run (every table fetched)",
            "ratio": round(t_base / t_ours, 2),
            "note": "one edit committed, then the draft validated (569 grids, 24,425 buildings); ours includes "
                    "the edit; median"}


def planner_impact(url: str, repeat: int) -> dict:
    from api.planner import checks
    from bench.common import interleaved

    session, pub, draft = _setup(url)
    probe = """
        WITH bp AS MATERIALIZED (SELECT id, households, ST_PointOnSurface(footprint) AS p FROM building)
        SELECT id, households,
               (SELECT g.code FROM grid g WHERE g.layout_id = :a AND ST_Intersects(g.boundary, bp.p)
                ORDER BY g.code LIMIT 1),
               (SELECT g.code FROM grid g WHERE g.layout_id = :d AND ST_Intersects(g.boundary, bp.p)
                ORDER BY g.code LIMIT 1)
        FROM bp"""

    def ours() -> None:
        with session() as s:
            checks.impact(s, layout_id=draft, against=pub)

    def baseline() -> None:
        with session() as s:
            s.execute(text(probe), {"a": pub, "d": draft}).all()

    try:
        t_ours, t_base = interleaved(ours, baseline, repeat)
    finally:
        with session() as s:
            s.execute(text("DELETE FROM grid_layout WHERE id = :l"), {"l": draft})
            s.commit()
    return {"name": "planner_impact", "value": round(t_ours * 1000, 1), "unit": "ms",
            "baseline": round(t_base * 1000, 1),
            "baseline_name": "per-point probes (buildings only, no facilities or cases)",
            "ratio": round(t_base / t_ours, 2),
            "note": "impact of a draft against the published layout: buildings, facilities, open cases; median"}


BENCHES = {"planner_validation": planner_validation, "planner_impact": planner_impact}

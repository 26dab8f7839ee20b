"""Evaluation (考核评价, issue 19): each level's figures over the whole sample history, one GROUP BY query each.

Baseline, measured in the same run and interleaved: a bare ``count(*)`` of the same cases joined to their reports
(the least any per-period figure must read). The measure is the service call the API makes (api/evaluation),
so it includes the event aggregate and the rates; the ratio says what the figures cost beyond one scan.

    python -m bench.run --only evaluation_levels
"""

from __future__ import annotations

from sqlalchemy import text

from api.auth.service import Principal
from bench.common import interleaved


def levels(url: str, repeat: int) -> list[dict]:
    from api.core.config import get_settings
    from api.core.db import make_engine, make_sessionmaker
    from api.evaluation import service

    engine = make_engine(get_settings(), url=url, pool_size=1)
    factory = make_sessionmaker(engine)
    admin = Principal(key_id=0, name="bench", role="admin")
    out = []
    with factory() as s:
        start, end = s.execute(text("""SELECT min(reported_at AT TIME ZONE 'Asia/Shanghai')::date,
                                              max(reported_at AT TIME ZONE 'Asia/Shanghai')::date FROM report""")).one()
        period = service.parse_period(None, start, end)
        n = s.execute(text("SELECT count(*) FROM cases")).scalar()

        def base() -> object:
            return s.execute(text("SELECT count(*) FROM cases c JOIN report r ON r.id = c.report_id "
                                  "WHERE c.grid_code IS NOT NULL AND r.reported_at >= :a"), {"a": start}).scalar()

        for level in ("street", "community", "grid", "department", "worker"):
            def ours(level: str = level) -> object:
                return service.evaluate(s, principal=admin, level=level, period=period)

            value, baseline = interleaved(ours, base, repeat)
            out.append({"name": f"evaluation_{level}", "unit": "s", "value": round(value, 3),
                        "baseline": round(baseline, 3), "ratio": round(value / baseline, 1),
                        "note": f"{n:,} cases, {period.start}…{period.end}; baseline: count of the cases joined "
                                "to their reports"})
        s.rollback()
    engine.dispose()
    return out


BENCHES = {"evaluation_levels": levels}

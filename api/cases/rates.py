"""Response, resolution and satisfaction rates per grid, community or street.

Counted over the cases whose **report** was made in ``[since, until)`` (either bound optional), that
were routed to a grid, and that the caller may see (a worker: its own grids). A community is the first
12 digits of a grid code, a street the first 9 (the codes are hierarchical), so every level is one
GROUP BY. Per unit:

* ``cases``     all such cases;
* ``eligible``  those not ``rejected`` (duplicates and invalid reports are no one's workload);
* ``responded`` eligible cases taken up in time: their first event into ``in_progress``, ``escalated`` or
  ``resolved`` happened at or before the case deadline (a case without a deadline: at any time);
* ``resolved``  eligible cases now ``resolved``, ``verified`` or ``closed``;
* ``rated``     closed cases with a follow-up rating (1-5); ``satisfied``: those rated 4 or 5;
* ``overdue``   eligible cases still open (``OPEN_STATUSES``) past their deadline now.

**response_rate** = responded / eligible; **resolution_rate** = resolved / eligible;
**satisfaction_rate** = satisfied / rated. Each is ``None`` when its denominator is 0, else rounded to 4
decimals.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.auth.service import Principal
from api.cases import service
from api.cases.schemas import RateRow
from api.cases.workflow import OPEN_SQL

LEVEL_DIGITS = {"grid": 15, "community": 12, "street": 9}


def _rate(n: int, d: int) -> float | None:
    return None if d == 0 else round(n / d, 4)


def rates(session: Session, *, principal: Principal, level: Literal["grid", "community", "street"],
          since: datetime | None = None, until: datetime | None = None, code: str | None = None) -> list[RateRow]:
    digits = LEVEL_DIGITS[level]
    scope, params = service.scope_sql(principal)
    names = {
        "grid": "(SELECT g.name FROM grid g WHERE g.code = u.code ORDER BY g.layout_id DESC LIMIT 1)",
        "community": "(SELECT name FROM community WHERE code = u.code)",
        "street": "(SELECT name FROM street WHERE code = u.code)",
    }[level]
    rows = session.execute(text(f"""
        WITH k AS (
            SELECT c.id, left(c.grid_code, {digits}) AS code, c.status, c.deadline, c.rating,
                   (c.status <> 'rejected') AS eligible
            FROM cases c JOIN report r ON r.id = c.report_id
            WHERE c.grid_code IS NOT NULL AND {scope}
              AND (CAST(:since AS timestamptz) IS NULL OR r.reported_at >= :since)
              AND (CAST(:until AS timestamptz) IS NULL OR r.reported_at < :until)
              AND (CAST(:code AS text) IS NULL OR starts_with(c.grid_code, :code))
        ), taken AS (
            SELECT e.case_id, min(e.at) AS at FROM case_event e JOIN k ON k.id = e.case_id
            WHERE e.to_status IN ('in_progress', 'escalated', 'resolved') AND e.from_status IS DISTINCT FROM e.to_status
            GROUP BY e.case_id
        ), u AS (
            SELECT k.code,
                   count(*) AS cases,
                   count(*) FILTER (WHERE k.eligible) AS eligible,
                   count(*) FILTER (WHERE k.eligible AND t.at IS NOT NULL
                                    AND (k.deadline IS NULL OR t.at <= k.deadline)) AS responded,
                   count(*) FILTER (WHERE k.eligible AND k.status IN ('resolved', 'verified', 'closed')) AS resolved,
                   count(*) FILTER (WHERE k.status = 'closed' AND k.rating IS NOT NULL) AS rated,
                   count(*) FILTER (WHERE k.status = 'closed' AND k.rating >= 4) AS satisfied,
                   count(*) FILTER (WHERE k.eligible AND k.status IN ({OPEN_SQL}) AND k.deadline < now()) AS overdue
            FROM k LEFT JOIN taken t ON t.case_id = k.id
            GROUP BY k.code
        )
        SELECT u.*, {names} AS name FROM u ORDER BY u.code"""),
        {**params, "since": since, "until": until, "code": code}).all()
    return [RateRow(code=r.code, name=r.name, cases=r.cases, eligible=r.eligible, responded=r.responded,
                    resolved=r.resolved, rated=r.rated, satisfied=r.satisfied, overdue=r.overdue,
                    response_rate=_rate(r.responded, r.eligible), resolution_rate=_rate(r.resolved, r.eligible),
                    satisfaction_rate=_rate(r.satisfied, r.rated)) for r in rows]

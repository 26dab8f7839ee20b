"""What the evaluation (考核评价) counts and how it rates: the ONE home of these rules (issue 19).

Modelled on how Beijing's 接诉即办 (respond at once to a call) assessment publishes its three rates — response
(响应率), resolution (解决率) and satisfaction (满意率), the last two judged by the resident in the follow-up
call (回访) — plus the on-time and first-time resolution rates a command centre watches. The README, the page
(``GET /api/v1/evaluation/definitions``) and every exported workbook show :data:`DEFINITIONS`, so the words and
the SQL below change together.

Counted: the cases whose report came in within the period ``[from, to)`` (Beijing time), routed to a grid, that
the caller may see, and not ``rejected`` (a duplicate merged into another case or an invalid report is no one's
work). Per unit (a street, community, grid, department or worker), with ``k`` one such case:

=================  ==========================================================================================
``cases``          the cases counted (参评件)
``responded``      the first handling step (registration, dispatch, …) came within :data:`RESPONSE_HOURS` of
                   the report (按时响应)
``followed_up``    a follow-up was recorded (回访件); ``satisfied`` / ``basically_satisfied`` / ``dissatisfied``
                   by its verdict (满意 / 基本满意 / 不满意)
``judged``         follow-ups that say whether the problem was solved; ``solved``: those saying it was
``due``            resolved, or past the deadline unresolved; ``on_time``: resolved at or before the deadline
                   (the latest resolution against the deadline in force; an extension moves it, a suspension
                   stops it; no deadline: on time)
``resolved_once``  resolved at least once; ``first_time``: those never reopened (重办)
``reopened``       reopened at least once by a dissatisfied follow-up
``overdue``        still open and past the deadline now
=================  ==========================================================================================

Rates (``None`` when the denominator is 0, else rounded to 4 decimals):

* response_rate = responded / cases
* resolution_rate = solved / judged
* satisfaction_rate = (satisfied + :data:`BASIC_WEIGHT` × basically_satisfied) / followed_up
* on_time_rate = on_time / due
* first_time_rate = first_time / resolved_once
* score = Σ :data:`SCORE_WEIGHTS` × rate, over the rates that are not ``None`` (re-weighted to their sum),
  × 100; the ranking is by score unless another rate is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

#: A case is responded to when its first handling step comes within this many clock hours of the report.
RESPONSE_HOURS = 24
#: A 基本满意 (basically satisfied) follow-up counts this much of a 满意 one.
BASIC_WEIGHT = 0.8
#: The composite score's weights (our choice, after the response/resolution/satisfaction weighting of
#: Beijing's monthly 接诉即办 rankings).
SCORE_WEIGHTS = {"response_rate": 0.10, "resolution_rate": 0.45, "satisfaction_rate": 0.45}

#: Per-case facts, SQL over ``c`` (the case's columns and ``reported_at``) and ``ev`` (its first step and latest
#: resolution), see service.py.
FACTS = {
    "responded": f"ev.first_step <= c.reported_at + interval '{RESPONSE_HOURS} hours'",
    "followed_up": "c.satisfaction IS NOT NULL",
    "satisfied": "c.satisfaction = 'satisfied'",
    "basically_satisfied": "c.satisfaction = 'basically_satisfied'",
    "dissatisfied": "c.satisfaction = 'dissatisfied'",
    "judged": "c.followup_resolved IS NOT NULL",
    "solved": "c.followup_resolved",
    "due": "(ev.resolved_at IS NOT NULL OR c.deadline < now())",
    "on_time": "(ev.resolved_at IS NOT NULL AND (c.deadline IS NULL OR ev.resolved_at <= c.deadline))",
    "resolved_once": "ev.resolved_at IS NOT NULL",
    "first_time": "(ev.resolved_at IS NOT NULL AND c.reopen_count = 0)",
    "reopened": "c.reopen_count > 0",
}
COUNTS = ("cases", *FACTS, "overdue")

RATES = ("response_rate", "resolution_rate", "satisfaction_rate", "on_time_rate", "first_time_rate")
SORTS = ("score", *RATES, "cases")


def _ratio(n: float, d: int) -> float | None:
    return None if d == 0 else round(n / d, 4)


def rates(n: dict[str, int]) -> dict[str, float | None]:
    """The rates and score of one unit from its counts."""
    out = {
        "response_rate": _ratio(n["responded"], n["cases"]),
        "resolution_rate": _ratio(n["solved"], n["judged"]),
        "satisfaction_rate": _ratio(n["satisfied"] + BASIC_WEIGHT * n["basically_satisfied"], n["followed_up"]),
        "on_time_rate": _ratio(n["on_time"], n["due"]),
        "first_time_rate": _ratio(n["first_time"], n["resolved_once"]),
    }
    parts = [(w, out[k]) for k, w in SCORE_WEIGHTS.items() if out[k] is not None]
    weight = sum(w for w, _ in parts)
    out["score"] = round(100 * sum(w * v for w, v in parts) / weight, 2) if weight else None
    return out


@dataclass(frozen=True, slots=True)
class Definition:
    key: str
    name_zh: str
    name_en: str
    formula_zh: str
    formula_en: str


DEFINITIONS = (
    Definition("scope", "统计范围", "Counted",
               "统计期内受理（按上报时间）、已落入网格、本账号可见的案件，不含驳回件（重复并单、无效诉求）",
               "cases reported within the period, routed to a grid, visible to you; rejected cases (merged "
               "duplicates, invalid reports) are not counted"),
    Definition("response_rate", "响应率", "Response rate",
               f"按时响应件数 ÷ 参评件数；按时响应：上报后 {RESPONSE_HOURS} 小时内有首个办理环节（立案、派遣等）",
               f"responded ÷ cases; responded: the first handling step (registration, dispatch, …) within "
               f"{RESPONSE_HOURS} hours of the report"),
    Definition("resolution_rate", "解决率", "Resolution rate",
               "回访中诉求人表示问题已解决的件数 ÷ 回访中有解决与否结论的件数",
               "follow-ups in which the resident says the problem is solved ÷ follow-ups that say whether it is"),
    Definition("satisfaction_rate", "满意率", "Satisfaction rate",
               f"（满意件数 + 基本满意件数 × {BASIC_WEIGHT}）÷ 回访件数",
               f"(satisfied + {BASIC_WEIGHT} × basically satisfied) ÷ followed up"),
    Definition("on_time_rate", "按期办结率", "On-time rate",
               "在办理时限内办结（末次办结时间不晚于时限，延期后按新时限，挂起期间不计）的件数 ÷"
               "（已办结件数 + 超期未办结件数）",
               "resolved by the deadline (the latest resolution; an extension moves the deadline, a suspension "
               "stops it) ÷ (resolved + past the deadline unresolved)"),
    Definition("first_time_rate", "一次办结率", "First-time resolution",
               "办结后未被重办的件数 ÷ 办结过的件数（回访不满意重办的案件不计为一次办结）",
               "resolved and never reopened ÷ resolved at least once (a case reopened after a dissatisfied "
               "follow-up is not a first-time resolution)"),
    Definition("score", "综合得分", "Score",
               "100 × (响应率 × 10% + 解决率 × 45% + 满意率 × 45%)，无数据的比率不计、权重按其余比率折算；"
               "排名默认按综合得分",
               "100 × (10 % response + 45 % resolution + 45 % satisfaction), leaving out a rate without data "
               "(the other weights scaled up); ranked by score unless chosen otherwise"),
)
assert {d.key for d in DEFINITIONS} >= {*RATES, "score"}

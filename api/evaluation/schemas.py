from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

Level = Literal["street", "community", "grid", "department", "worker"]
Bucket = Literal["week", "month"]


class Period(BaseModel):
    label: str = Field(description="what was asked: `2026-11`, `2026-Q4`, `2026`, or `from…to`")
    start: date = Field(description="first day counted (Beijing time)")
    end: date = Field(description="last day counted (Beijing time), inclusive")


class Figures(BaseModel):
    """Counts and rates of one unit (definitions: GET /api/v1/evaluation/definitions)."""

    cases: int
    responded: int
    followed_up: int
    satisfied: int
    basically_satisfied: int
    dissatisfied: int
    judged: int
    solved: int
    due: int
    on_time: int
    resolved_once: int
    first_time: int
    reopened: int
    overdue: int
    response_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None
    on_time_rate: float | None
    first_time_rate: float | None
    score: float | None


class UnitRow(Figures):
    code: str = Field(description="street, community or grid code, department code, or the worker's person id")
    name: str | None
    name_en: str | None = None
    rank: int | None = Field(description="by `sort` (1 = best); none without a figure")


class Evaluation(BaseModel):
    level: Level
    within: str | None
    sort: str
    period: Period
    generated_at: datetime
    total: Figures = Field(description="all the units together")
    items: list[UnitRow]


class TrendPoint(Figures):
    start: date = Field(description="the bucket's first day within the period")


class Trend(BaseModel):
    bucket: Bucket
    level: Level | None
    code: str | None
    period: Period
    generated_at: datetime
    items: list[TrendPoint]


class DefinitionOut(BaseModel):
    key: str
    name_zh: str
    name_en: str
    formula_zh: str
    formula_en: str


class Definitions(BaseModel):
    response_hours: int
    basic_weight: float
    score_weights: dict[str, float]
    items: list[DefinitionOut]

"""Response shapes of the coverage routes (for the OpenAPI document; the routes answer with orjson)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class CoverageSummary(BaseModel):
    grids: int
    findings: int
    by_kind: dict[str, int]
    slivers: dict[str, dict[str, float]]
    gap_area_m2: float
    overlap_area_m2: float
    households: int
    households_source: str
    norm: list[int]
    finding_band: list[float]
    within_norm: int
    balance: dict[str, Any]
    tolerances: dict[str, float]


class CoverageOut(BaseModel):
    layout: dict[str, Any]
    community: str | None
    summary: CoverageSummary
    findings: dict[str, Any]  # a GeoJSON FeatureCollection; properties: kind, codes, community_code, area_m2…


class WorkloadRow(BaseModel):
    code: str
    name: str | None
    community_code: str | None
    households: int
    households_recorded: int
    population: int
    population_recorded: int
    buildings: int
    facilities: int
    reports: int
    cases: int
    cases_open: int
    norm_status: str
    deviation: int
    facilities_by_kind: dict[str, int]
    reports_by_category: dict[str, int]
    reports_by_period: dict[str, dict[str, int]]


class WorkloadOut(BaseModel):
    layout: dict[str, Any]
    period: str
    norm: list[int]
    finding_band: list[float]
    balance: dict[str, Any]
    households_source: str
    within_norm: int
    grids: list[WorkloadRow]


class CatchmentKind(BaseModel):
    kind: str
    reach_m: float
    households: int
    households_covered: int
    share: float | None
    underserved_grids: list[str]


class CatchmentOut(BaseModel):
    layout: dict[str, Any]
    params: dict[str, Any]
    kinds: list[CatchmentKind]
    grids: list[dict[str, Any]]

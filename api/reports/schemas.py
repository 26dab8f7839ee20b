from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.core.params import Number
from api.media.schemas import PhotoRef


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    name_en: str | None
    kind: str
    major_code: str
    major_name: str
    major_name_en: str | None
    time_limit_hours: float
    initials: str = Field(default="", description="pinyin initials of the name (垃圾堆放 → ljdf), for pickers")


class CategoryList(BaseModel):
    items: list[CategoryOut]


class Reporter(BaseModel):
    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=40)


class ReportIn(BaseModel):
    """A report as an intake system sends it. Coordinates are longitude/latitude in ``crs``."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(pattern=r"^[a-z0-9_]{1,32}$", examples=["hotline_12345"],
                        description="the sending system: hotline_12345, mini_program, field_app, patrol …")
    external_id: str | None = Field(default=None, min_length=1, max_length=128,
                                    description="the sender's own id; unique per source")
    category: str = Field(min_length=1, max_length=16, examples=["E01001"], description="a category code")
    description: str | None = Field(default=None, max_length=4000)
    lon: Number | None = Field(default=None, description="longitude (or easting with a projected crs)")
    lat: Number | None = Field(default=None, description="latitude (or northing)")
    crs: str | None = Field(default=None, description="wgs84 (default), cgcs2000, gcj02, bd09 or EPSG:nnnn")
    address: str | None = Field(default=None, max_length=500)
    reported_at: datetime | None = Field(default=None, description="when it was reported; default: now. "
                                         "A time without an offset is Beijing time.")
    photos: list[PhotoRef] = Field(default_factory=list, max_length=20,
                                   description="photo URLs, or ids of uploads to POST /api/v1/media")
    reporter: Reporter | None = None


class Point(BaseModel):
    lon: float
    lat: float


class RoutingOut(BaseModel):
    layout_id: int | None
    grid_code: str | None
    grid_name: str | None = None
    method: str
    distance_m: float | None
    candidates: list[str]
    reason: str | None


class CaseRef(BaseModel):
    id: int
    status: str
    deadline: datetime | None
    assignee: str | None = None
    duplicates: list[int] = Field(default_factory=list, description="open cases of the same category nearby in "
                                  "space and time, suggested for a merge (并单); filled on intake")


class ReportOut(BaseModel):
    id: int
    source: str
    external_id: str | None
    category: str | None
    description: str | None
    address: str | None
    reported_at: datetime
    received_at: datetime
    point: Point | None
    input: dict | None
    crs_assumed: str | None
    photos: list[str]
    reporter: Reporter | None
    routing: RoutingOut | None
    case: CaseRef | None
    replayed: bool = Field(default=False, description="true when this answers a retry of an earlier request")
    address_check: dict | None = Field(default=None, description="on intake, what the address registry made of "
                                       "`address`: status, score, distance to the coordinates, review queue id")


class ReportList(BaseModel):
    items: list[ReportOut]
    total: int
    links: list[dict]

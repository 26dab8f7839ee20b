from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.core.params import Integer, Number
from api.media.schemas import PhotoRef
from api.reports.schemas import Point, Reporter

#: A follow-up's satisfaction (回访满意度): 满意, 基本满意, 不满意. Evaluation weighs them (api/evaluation).
SATISFACTIONS = ("satisfied", "basically_satisfied", "dissatisfied")
Satisfaction = Literal["satisfied", "basically_satisfied", "dissatisfied"]
#: How the resident was reached for a follow-up.
Channel = Literal["phone", "sms", "visit", "wechat", "app", "other"]

#: A row id: positive and within PostgreSQL bigint (a larger number is a 422, not a database error).
RowId = Annotated[Integer, Field(ge=1, le=2**63 - 1)]


class Staff(BaseModel):
    id: int
    name: str
    role: str
    phone: str | None


class CaseOut(BaseModel):
    id: int
    report_id: int
    status: str
    category: str | None
    category_name: str | None
    category_name_en: str | None = None
    time_limit_hours: float | None
    after_photo_required: bool = Field(default=False, description="resolved only with an after photo (处置后照片)")
    grid_code: str | None
    grid_name: str | None
    grid_name_en: str | None = None
    assignee: Staff | None
    department_code: str | None
    deadline: datetime | None
    overdue: bool
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    rating: int | None
    satisfaction: Satisfaction | None = Field(default=None, description="the latest follow-up's (回访) verdict")
    followup_resolved: bool | None = Field(default=None, description="the resident said the problem was solved")
    followup_channel: str | None = None
    followed_up_at: datetime | None = Field(default=None, description="when this closing was followed up: a closed "
                                            "case without it is due a follow-up (a reopening clears it)")
    reopen_count: int = Field(default=0, description="times a dissatisfied follow-up reopened it (重办)")
    suspended_at: datetime | None = Field(default=None, description="suspended (挂起) since: the deadline is "
                                          "null meanwhile and moves by the working time suspended on resume")
    point: Point | None
    address: str | None
    description: str | None
    source: str | None
    reported_at: datetime | None
    reporter: Reporter | None
    photos: list[str]
    merged_into: int | None = None
    distance_m: float | None = Field(default=None, description="from `near`, when asked")
    next: list[str] = Field(default_factory=list, description="statuses the caller may move this case to")
    actions: list[str] = Field(default_factory=list, description="steps of their own the caller may take "
                               "(`transfer`: to another grid, POST /cases/{id}/grid; `reopen` (重办): with a "
                               "dissatisfied follow-up, POST /cases/{id}/followup)")


class CaseEventOut(BaseModel):
    id: int
    at: datetime
    actor: str
    actor_name: str | None = Field(default=None, description="a user's person or display name (never a key's)")
    actor_role: str | None = Field(default=None, description="the acting user's role")
    kind: str
    from_status: str | None
    to_status: str
    note: str | None
    note_code: str | None = Field(default=None, description="set when gridmap wrote the note itself (`received`, "
                                  "`imported`, `reassigned`, ...; api/cases/notes.py): show `note.<code>` in the "
                                  "reader's language with `note_params`; `note` is its English text")
    note_params: dict | None = None
    attachments: list[str]
    data: dict | None


class CaseDetail(CaseOut):
    events: list[CaseEventOut]
    grid_boundary: dict | None = Field(default=None, description="the grid's boundary (GeoJSON geometry), for a map")
    navigation: dict[str, Point] | None = Field(
        default=None, description="the point for navigation apps: `wgs84` (geo: URIs), `gcj02` (Amap), `bd09` (Baidu)")


class CaseList(BaseModel):
    items: list[CaseOut]
    total: int
    links: list[dict]


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(pattern=r"^[a-z_]{1,16}$", examples=["in_progress"], description="the status to move to")
    note: str | None = Field(default=None, max_length=4000)
    attachments: list[PhotoRef] = Field(default_factory=list, max_length=20,
                                       description="photos: URLs, or ids of uploads to POST /api/v1/media")
    department_code: str | None = Field(default=None, max_length=16, description="dispatch: the department")
    assignee_id: Integer | None = Field(default=None, ge=1, le=2**63 - 1,
                                    description="dispatch: a person of the case's grid")


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: RowId
    note: str | None = Field(default=None, max_length=4000)


class TransferIn(BaseModel):
    """Move a case to another grid (改派到其他网格): a reason is required, the person defaults to the new grid's
    worker on duty."""

    model_config = ConfigDict(extra="forbid")

    grid_code: str = Field(pattern=r"^[0-9]{15}$", description="a grid of the case's layout, not its own")
    reason: str = Field(min_length=1, max_length=4000, pattern=r"\S", description="why (kept in the timeline)")
    assignee_id: Integer | None = Field(default=None, ge=1, le=2**63 - 1,
                                    description="a grid worker or leader of the new grid (default: its worker "
                                                "on duty)")


class GridChoice(BaseModel):
    code: str
    name: str
    name_en: str | None
    community_name: str | None
    community_name_en: str | None
    distance_m: float | None = Field(description="from the case's reported point to the grid")
    worker: str | None = Field(description="the grid's worker on duty, who would take the case")


class GridChoiceList(BaseModel):
    items: list[GridChoice]


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: Integer = Field(ge=1, le=5, description="the resident's follow-up rating (回访评价): 5 very satisfied")
    note: str | None = Field(default=None, max_length=4000)


class FollowupIn(BaseModel):
    """What the resident said when reached after the case was closed (回访)."""

    model_config = ConfigDict(extra="forbid")

    satisfaction: Satisfaction = Field(
        description="满意 satisfied · 基本满意 basically_satisfied · 不满意 dissatisfied")
    resolved: bool = Field(description="the resident says the problem was solved (the basis of the resolution rate)")
    channel: Channel = Field(description="how the resident was reached")
    note: str | None = Field(default=None, max_length=4000)
    reopen: bool = Field(default=False, description="reopen the case (重办) with a new deadline: only with "
                                                    "satisfaction=dissatisfied (422 `reopen_needs_dissatisfied`)")


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=4000)
    attachments: list[PhotoRef] = Field(default_factory=list, max_length=20)


class DuplicateOut(BaseModel):
    case_id: int
    report_id: int
    status: str
    category: str | None
    distance_m: float
    hours_apart: float
    reported_at: datetime
    description: str | None


class DuplicateList(BaseModel):
    case_id: int
    radius_m: float
    window_hours: float
    items: list[DuplicateOut]


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into: Integer = Field(ge=1, le=2**63 - 1, description="the case to keep; this case is rejected as its duplicate")
    note: str | None = Field(default=None, max_length=4000)


class RateRow(BaseModel):
    code: str
    name: str | None
    cases: int
    eligible: int
    responded: int
    resolved: int
    rated: int
    satisfied: int
    overdue: int
    response_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None


class RateList(BaseModel):
    level: Literal["grid", "community", "street"]
    since: datetime | None
    until: datetime | None
    items: list[RateRow]


class WhistleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: Literal["street", "community"] = Field(
        description="street: 街道吹哨、部门报到 (departments); "
                    "community: 社区吹哨、党员报到 (party members, volunteers)")
    departments: list[Annotated[str, Field(max_length=16)]] = Field(default_factory=list, max_length=20)
    people: list[RowId] = Field(default_factory=list, max_length=200,
                              description="community whistle: people to summon (default: all the grid's "
                                          "active party members and volunteers)")
    note: str | None = Field(default=None, max_length=4000)
    ack_minutes: Integer | None = Field(default=None, ge=1, le=7 * 24 * 60,
                                    description="time to acknowledge; default GRIDMAP_WHISTLE_ACK_MINUTES (30)")


class TargetOut(BaseModel):
    id: int
    department_code: str | None
    department_name: str | None
    person_id: int | None
    person_name: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    reported_at: datetime | None
    report_note: str | None
    late: bool = Field(description="not acknowledged by the due time (or acknowledged after it)")


class WhistleOut(BaseModel):
    id: int
    case_id: int
    level: str
    raised_by: str
    raised_at: datetime
    due_at: datetime
    note: str | None
    targets: list[TargetOut]


class WhistleList(BaseModel):
    items: list[WhistleOut]


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=4000)


class ReportBackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=4000)
    attachments: list[PhotoRef] = Field(default_factory=list, max_length=20)


class AlertOut(BaseModel):
    target_id: int
    whistle_id: int
    case_id: int
    grid_code: str | None
    level: str
    department_code: str | None
    department_name: str | None
    person_id: int | None
    person_name: str | None
    raised_at: datetime
    due_at: datetime
    minutes_late: float


class AlertList(BaseModel):
    items: list[AlertOut]


class ApprovalIn(BaseModel):
    """A suspension or an extension is decided by someone above the dispatcher: who, and why."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=4000, examples=["等待产权单位确认"])
    approved_by: str = Field(min_length=1, max_length=200, description="who approved it (审批人), and the "
                             "approval's reference if there is one", examples=["街道主任 王某 (审批单 2026-118)"])


class ResumeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=4000)


class ExtensionIn(ApprovalIn):
    """Either a new ``deadline``, or an ``amount`` of ``unit`` added to the current deadline."""

    deadline: datetime | None = Field(default=None, description="the new deadline (later than the current one)")
    amount: Number | None = Field(default=None, gt=0, le=8760)
    unit: Literal["hours", "working_hours", "working_days"] = "working_days"


class DepartmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    name_en: str | None


class DepartmentList(BaseModel):
    items: list[DepartmentOut]

"""Bodies of /api/v1/webhooks (issue 19)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.webhooks.events import EVENT_TYPES

EventType = Literal[tuple(EVENT_TYPES)]  # type: ignore[valid-type]
#: http or https, a host (name, IPv4 or [IPv6]), an optional port and path: nothing else is ever called.
URL_PATTERN = r"^https?://([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]{2,45}\])(:[0-9]{1,5})?(/[!-~]*)?$"
Url = Annotated[str, Field(pattern=URL_PATTERN, max_length=2000, examples=["https://hotline.example.gov.cn/gridmap"])]
DeliveryStatus = Literal["pending", "delivered", "dead"]
Format = Literal["event", "notice"]
_FORMAT = ("`event`: the event as JSON; `notice`: notices to the people it concerns (the case's worker: name, phone, "
           "a text), for an SMS/WeChat/e-mail gateway")


class Filters(BaseModel):
    """Where the case is: the street (9 digits), community (12), grid (15) codes, and its category."""

    model_config = ConfigDict(extra="forbid")

    streets: list[Annotated[str, Field(pattern=r"^[0-9]{9}$")]] | None = Field(default=None, max_length=1000)
    communities: list[Annotated[str, Field(pattern=r"^[0-9]{12}$")]] | None = Field(default=None, max_length=1000)
    grids: list[Annotated[str, Field(pattern=r"^[0-9]{15}$")]] | None = Field(default=None, max_length=1000)
    categories: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,16}$")]] | None = Field(default=None,
                                                                                        max_length=1000)

    @field_validator("streets", "communities", "grids", "categories")
    @classmethod
    def _empty_is_any(cls, v: list[str] | None) -> list[str] | None:
        return sorted(set(v)) if v else None


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url
    description: str | None = Field(default=None, max_length=500)
    event_types: list[EventType] = Field(min_length=1, max_length=len(EVENT_TYPES))
    filters: Filters = Field(default_factory=Filters)
    format: Format = Field(default="event", description=_FORMAT)
    active: bool = True


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    description: str | None = Field(default=None, max_length=500)
    event_types: list[EventType] | None = Field(default=None, min_length=1, max_length=len(EVENT_TYPES))
    filters: Filters | None = None
    format: Format | None = None
    active: bool | None = None


class Counts(BaseModel):
    pending: int = 0
    delivered: int = 0
    dead: int = 0


class SubscriptionOut(BaseModel):
    id: int
    url: str
    description: str | None
    event_types: list[str]
    filters: Filters
    format: Format
    active: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    failing_since: datetime | None = Field(description="the receiver has not been reachable since then")
    deliveries: Counts


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="the HMAC-SHA256 key of X-Gridmap-Signature; shown this once, never again")


class SubscriptionList(BaseModel):
    items: list[SubscriptionOut]


class DeliveryOut(BaseModel):
    id: int
    event_id: int
    event_type: str
    case_id: int | None
    occurred_at: datetime
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="when a pending delivery is tried next")
    last_attempt_at: datetime | None
    last_status: int | None = Field(description="the receiver's HTTP status of the last attempt (null: no answer)")
    last_error: str | None
    delivered_at: datetime | None


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
    total: int


class Replayed(BaseModel):
    replayed: int = Field(description="dead letters put back in the queue (tried again at once)")


class EventTypeOut(BaseModel):
    type: str
    description: str


class EventTypeList(BaseModel):
    items: list[EventTypeOut]

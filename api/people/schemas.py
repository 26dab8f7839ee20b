from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.core.params import Integer

PersonRole = Literal["grid_leader", "grid_worker", "building_chief", "unit_chief", "party_member", "volunteer"]


class PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: PersonRole
    phone: str | None = Field(default=None, max_length=40, pattern=r"^[0-9+\- ()]{3,40}$")
    grid_code: str | None = Field(default=None, pattern=r"^[0-9]{15}$")
    building_id: Integer | None = Field(default=None, ge=1, le=2**63 - 1)
    community_code: str | None = Field(default=None, pattern=r"^[0-9]{12}$")
    on_duty: bool = False


class PersonUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    role: PersonRole | None = None
    phone: str | None = Field(default=None, max_length=40, pattern=r"^[0-9+\- ()]{3,40}$")
    grid_code: str | None = Field(default=None, pattern=r"^[0-9]{15}$")
    building_id: Integer | None = Field(default=None, ge=1, le=2**63 - 1)
    community_code: str | None = Field(default=None, pattern=r"^[0-9]{12}$")
    on_duty: bool | None = None
    active: bool | None = None


class PersonOut(BaseModel):
    id: int
    name: str
    role: str
    phone: str | None
    grid_code: str | None
    building_id: int | None
    community_code: str | None
    on_duty: bool
    active: bool


class PersonList(BaseModel):
    items: list[PersonOut]
    total: int

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.auth.schemas import Role
from api.core.params import Integer

GridCode = str


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=r"^[a-z0-9][a-z0-9_.@-]{1,63}$", description="lower-case login name")
    password: str = Field(min_length=10, max_length=256, description="at least 10 characters")
    role: Role
    display_name: str | None = Field(default=None, max_length=100)
    person_id: Integer | None = Field(default=None, ge=1, le=2**63 - 1,
                                  description="the grid staff member a worker acts for")
    department_code: str | None = Field(default=None, max_length=16,
                                        description="the department a dispatcher-role department user answers for")
    grid_codes: list[Annotated[str, Field(max_length=15)]] = Field(default_factory=list, max_length=50,
                                  description="grids served in addition to the person's own grid")


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(default=None, min_length=10, max_length=256)
    role: Role | None = None
    display_name: str | None = Field(default=None, max_length=100)
    person_id: Integer | None = Field(default=None, ge=1, le=2**63 - 1)
    department_code: str | None = Field(default=None, max_length=16)
    grid_codes: list[Annotated[str, Field(max_length=15)]] | None = Field(default=None, max_length=50)
    active: bool | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str | None
    role: str
    person_id: int | None
    department_code: str | None
    grid_codes: list[str]
    active: bool
    kiosk: bool = False
    created_at: datetime
    last_login_at: datetime | None


class UserList(BaseModel):
    items: list[UserOut]


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds")
    role: str
    name: str


class Me(BaseModel):
    name: str
    display_name: str = Field(description="the person's name, as the pages show it (never a key's name for a user)")
    kiosk: bool = Field(default=False, description="a paired wall screen")
    grid_name: str | None = Field(default=None, description="the grid of the person a worker acts for")
    grid_name_en: str | None = None
    session_hours: float | None = Field(default=None, description="length of a sign-in (a shift)")
    role: str
    kind: Literal["user", "key"]
    user_id: int | None
    person_id: int | None
    person_role: str | None
    grid_codes: list[str]
    department_code: str | None


class SessionsEnded(BaseModel):
    ended: int = Field(description="live sign-ins revoked")


class KioskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="where the screen hangs, e.g. 指挥中心大屏")


class KioskPairing(BaseModel):
    user: UserOut
    pairing_code: str = Field(description="typed once on the wall screen; shown once, valid for minutes")
    expires_at: datetime


class PairIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=4, max_length=32)

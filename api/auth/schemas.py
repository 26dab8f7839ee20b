from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from api.auth.roles import ROLES, accepted_roles, normalize

#: A role as given on input: the seven roles, or a deprecated name (``commander``) stored as what it now means.
Role = Annotated[Literal[accepted_roles()], AfterValidator(normalize),  # type: ignore[valid-type]
                 Field(description=f"one of {', '.join(ROLES)} (`commander`, deprecated, means `dispatcher`)")]


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role


class KeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself. Shown once: only its hash is stored.")


class KeyList(BaseModel):
    items: list[KeyOut]

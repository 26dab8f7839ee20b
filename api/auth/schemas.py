from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["admin", "planner", "commander", "worker", "intake"]


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

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class LayoutOut(BaseModel):
    id: int
    name: str
    status: str
    revision: int = 0
    parent_id: int | None = None
    effective_from: datetime | None
    effective_to: datetime | None
    grid_count: int
    current: bool
    note: str | None = None
    created_at: datetime | None = None


class LayoutList(BaseModel):
    items: list[LayoutOut]

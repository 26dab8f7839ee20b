from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class LayoutOut(BaseModel):
    id: int
    name: str
    status: str
    effective_from: datetime | None
    effective_to: datetime | None
    grid_count: int
    current: bool
    note: str | None = None


class LayoutList(BaseModel):
    items: list[LayoutOut]

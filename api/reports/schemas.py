from __future__ import annotations

from pydantic import BaseModel, ConfigDict


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


class CategoryList(BaseModel):
    items: list[CategoryOut]

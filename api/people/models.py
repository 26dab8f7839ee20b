"""Grid staff and registered volunteers.

People are attached to a grid by its *code*, not its row id: codes survive a redraw (a new
layout re-uses them), so staff stay with their grid when a planner publishes a new layout.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base

ROLES = ("grid_leader", "grid_worker", "building_chief", "unit_chief", "party_member", "volunteer")


class Person(Base):
    __tablename__ = "person"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str]
    role: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str | None]
    grid_code: Mapped[str | None] = mapped_column(String(15))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id", ondelete="SET NULL"))
    community_code: Mapped[str | None] = mapped_column(ForeignKey("community.code"))
    on_duty: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)

"""Grid layouts (versions of the grid plan) and grids (网格)."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, DateTime, ForeignKey, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base

LAYOUT_STATUSES = ("draft", "published", "retired")


class GridLayout(Base):
    __tablename__ = "grid_layout"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str]
    status: Mapped[str] = mapped_column(String(16), default="draft")
    effective_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    effective_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("grid_layout.id"))
    note: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Grid(Base):
    __tablename__ = "grid"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    layout_id: Mapped[int] = mapped_column(ForeignKey("grid_layout.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(15))
    name: Mapped[str]
    name_en: Mapped[str | None]
    community_code: Mapped[str | None] = mapped_column(ForeignKey("community.code"))
    households: Mapped[int] = mapped_column(default=0)
    population: Mapped[int] = mapped_column(default=0)
    properties: Mapped[dict] = mapped_column(JSONB, default=dict)
    boundary = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)

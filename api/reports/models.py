"""Reports as received, their categories, and the routing decision taken for each."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base

ROUTING_METHODS = ("inside", "edge", "nearest", "address", "unrouted")


class Category(Base):
    """A report category (GB/T 30428.2 component/event classes plus community ones). Data, not code."""

    __tablename__ = "category"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str]
    name_en: Mapped[str | None]
    kind: Mapped[str] = mapped_column(String(16))
    major_code: Mapped[str] = mapped_column(String(8))
    major_name: Mapped[str]
    major_name_en: Mapped[str | None]
    time_limit_hours: Mapped[float]
    #: A case of this category is resolved only with an after photo (处置后照片; migration 0016).
    after_photo_required: Mapped[bool] = mapped_column(default=False)


class Report(Base):
    __tablename__ = "report"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str | None]
    idempotency_key: Mapped[str | None]
    category_code: Mapped[str | None] = mapped_column(ForeignKey("category.code"))
    description: Mapped[str | None]
    raw_x: Mapped[float | None] = mapped_column(Float)
    raw_y: Mapped[float | None] = mapped_column(Float)
    raw_crs: Mapped[str | None]
    address_text: Mapped[str | None]
    reporter_name: Mapped[str | None]
    reporter_phone: Mapped[str | None]
    photos: Mapped[list] = mapped_column(JSONB, default=list)
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    request_hash: Mapped[str | None]
    crs_assumed: Mapped[str | None]
    location = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    #: Who filed it (api/auth/roles.py filed_by): operators and intake systems read back only their own.
    filed_by: Mapped[str | None]


class Routing(Base):
    __tablename__ = "routing"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"))
    layout_id: Mapped[int | None] = mapped_column(ForeignKey("grid_layout.id"))
    grid_code: Mapped[str | None] = mapped_column(String(15))
    method: Mapped[str] = mapped_column(String(16))
    distance_m: Mapped[float | None]
    candidates: Mapped[list] = mapped_column(JSONB, default=list)
    reason: Mapped[str | None]
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

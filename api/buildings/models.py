"""Buildings (楼栋) and the standard address registry (标准地址)."""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base


class Building(Base):
    __tablename__ = "building"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    address: Mapped[str | None]
    kind: Mapped[str | None]
    floors: Mapped[int | None]
    units: Mapped[int | None]
    households: Mapped[int] = mapped_column(default=0)
    population: Mapped[int] = mapped_column(default=0)
    properties: Mapped[dict] = mapped_column(JSONB, default=dict)
    footprint = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=False), nullable=False)


class Address(Base):
    __tablename__ = "address"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id", ondelete="SET NULL"))
    district: Mapped[str | None]
    street: Mapped[str | None]
    community: Mapped[str | None]
    road: Mapped[str | None]
    door_number: Mapped[str | None]
    estate: Mapped[str | None]
    building_no: Mapped[str | None]
    unit: Mapped[str | None]
    room: Mapped[str | None]
    full_text: Mapped[str]
    normalized: Mapped[str]
    aliases: Mapped[list[str]] = mapped_column(ARRAY(String), default=list)
    location = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))

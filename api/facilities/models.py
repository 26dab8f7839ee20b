"""Service facilities (党群服务中心, clinics, elderly care, schools …) that catchments start from."""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base


class Facility(Base):
    __tablename__ = "facility"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str]
    name_en: Mapped[str | None]
    address: Mapped[str | None]
    properties: Mapped[dict] = mapped_column(JSONB, default=dict)
    location = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)

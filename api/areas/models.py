"""Administrative areas: streets (街道) and communities (社区)."""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base


class Street(Base):
    __tablename__ = "street"

    code: Mapped[str] = mapped_column(String(9), primary_key=True)
    name: Mapped[str]
    name_en: Mapped[str | None]
    boundary = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)


class Community(Base):
    __tablename__ = "community"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str]
    name_en: Mapped[str | None]
    street_code: Mapped[str] = mapped_column(ForeignKey("street.code"))
    boundary = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)

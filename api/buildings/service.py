"""Building footprints by bounding box."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Literal

from fastapi import Request, Response
from sqlalchemy.orm import Session

from api.core.config import Settings
from api.core.geojson import BBox, bbox_clause, bbox_params, layer_response


def buildings(session: Session, factory: Callable[[], AbstractContextManager[Session]], *, bbox: BBox,
              limit: int | Literal["all"] | None, offset: int, request: Request, settings: Settings) -> Response:
    where = bbox_clause("footprint", bbox)
    inner = f"""SELECT code, address, kind, floors, units, households, population, footprint
                FROM building WHERE {where} ORDER BY id"""
    return layer_response(
        session, factory, inner, bbox_params(bbox), id_column="code", geom_column="footprint",
        count_sql=f"SELECT count(*) FROM building WHERE {where}", limit=limit, offset=offset, request=request,
        settings=settings,
    )

"""Streets and communities as GeoJSON."""

from __future__ import annotations

from fastapi import Request, Response
from sqlalchemy.orm import Session

from api.core.geojson import BBox, bbox_clause, bbox_params, feature_collection


def streets(session: Session, *, bbox: BBox | None) -> Response:
    inner = f"""
        SELECT code, name, name_en, boundary FROM street
        WHERE {bbox_clause("boundary", bbox)} ORDER BY code"""
    return feature_collection(session, inner, bbox_params(bbox), id_column="code", geom_column="boundary")


def communities(session: Session, *, street: str | None, bbox: BBox | None, request: Request) -> Response:
    inner = f"""
        SELECT code, name, name_en, street_code, boundary FROM community
        WHERE (CAST(:street AS text) IS NULL OR street_code = :street) AND {bbox_clause("boundary", bbox)}
        ORDER BY code"""
    params = {"street": street, **bbox_params(bbox)}
    return feature_collection(session, inner, params, id_column="code", geom_column="boundary")

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from api.core.deps import CurrentUser, SessionDep
from api.reports.models import Category
from api.reports.schemas import CategoryList, CategoryOut

router = APIRouter(tags=["reports"])


@router.get("/categories", response_model=CategoryList)
def list_categories(session: SessionDep, _: CurrentUser) -> CategoryList:
    """Report categories (GB/T 30428.2 components and events, plus community governance), with time limits."""
    rows = session.scalars(select(Category).order_by(Category.code))
    return CategoryList(items=[CategoryOut.model_validate(r) for r in rows])

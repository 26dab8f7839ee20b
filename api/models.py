"""Every model, imported once so that ``Base.metadata`` knows the whole schema (Alembic's env
and the tests that compare models with the migrated database import this)."""

from api.areas.models import Community, Street
from api.auth.models import ApiKey
from api.buildings.models import Address, Building
from api.cases.models import Case, CaseEvent, Department
from api.core.db import Base
from api.facilities.models import Facility
from api.grids.models import Grid, GridLayout
from api.media.models import Media
from api.people.models import Person
from api.reports.models import Category, Report, Routing
from api.users.models import User, UserToken

__all__ = [
    "Address", "ApiKey", "Base", "Building", "Case", "CaseEvent", "Category", "Community",
    "Department", "Facility", "Grid", "GridLayout", "Media",
    "Person", "Report", "Routing", "Street", "User", "UserToken",
]

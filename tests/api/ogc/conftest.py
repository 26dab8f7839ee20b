"""The planner's draft fixtures, for the Part 4 tests (writes on a draft copied from the published layout)."""

from tests.api.planner.conftest import draft, planner  # noqa: F401 - fixtures

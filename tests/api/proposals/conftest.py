"""The planner workspace's draft fixture, reused: proposals are made for a draft copied from the sample layout."""

from tests.api.planner.conftest import draft, planner, quiet_app  # noqa: F401 - fixtures

"""The role table: the ONE place that says which role may do what.

Routers never list roles: they name a capability (``require(Can.ACT_ON_CASES)``) and this table says who has
it. Scoping (which rows a role sees) is decided here too, so a service asks ``grid_scope(principal)`` instead
of testing ``role == "worker"``. The README's role table is this table in words; tests/api/access_table.py is
the hand-written expectation per route that the access matrix holds the app to.

The roles (issue 17):

``viewer``      the map wall and read-only views; writes nothing at all (the unattended wall's credential).
``dispatcher``  command-centre staff: register, dispatch, reassign, return, reject, merge, whistle, verify,
                close, record follow-ups; reads every grid; keeps the grid staff roster.
``operator``    the hotline seat: address search, locate, files reports with the caller's details, reads the
                reports and cases it filed, sees grid staff phone numbers (to hand a case over by phone).
``planner``     draws and publishes grid layouts, reads the map, the wall and coverage.
``worker``      a grid worker or leader (a user acting for a person): only the cases of their own grids.
``intake``      machine systems (hotline, mini-programs) that post reports and read back only their own.
``admin``       everything, and keys, users and the audit log.

``commander`` (the old name of ``dispatcher``) is accepted for one release where a role is given (keys,
users, the CLI) and stored as ``dispatcher``; migration 0014 renamed the stored rows.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from api.auth.service import Principal

ROLES = ("admin", "dispatcher", "operator", "planner", "worker", "viewer", "intake")
#: Old role names still accepted on input, and what they now mean.
DEPRECATED = {"commander": "dispatcher"}


class Can(StrEnum):
    """What a route or a service step needs. Each member is one line of the table below."""

    READ_MAP = "read_map"  # streets, communities, layouts, grids, buildings, facilities, tiles
    READ_WALL = "read_wall"  # the map wall's aggregates, replay and live stream
    READ_COVERAGE = "read_coverage"  # coverage analysis, workload, catchments (workers: their grids)
    LOCATE = "locate"  # point/address → grid, the category list
    SEARCH_ADDRESSES = "search_addresses"
    REVIEW_ADDRESSES = "review_addresses"  # confirm or reject a low-confidence address match
    FILE_REPORTS = "file_reports"
    READ_REPORTS = "read_reports"  # reports as received, scoped (grid_scope, filer_scope)
    READ_CASES = "read_cases"  # cases, whistles, alerts, scoped the same way
    ACT_ON_CASES = "act_on_cases"  # transitions (per the workflow table), notes, whistles, acknowledgements
    DISPATCH = "dispatch"  # merge, follow-ups: command-centre decisions over cases
    READ_STAFF = "read_staff"
    MANAGE_STAFF = "manage_staff"
    SEE_CALLER = "see_caller"  # the reporter's name and phone unmasked
    SEE_STAFF_PHONE = "see_staff_phone"  # grid staff phone numbers unmasked
    PLAN = "plan"  # the planner workspace (publishing also needs GRIDMAP_PUBLISH_ROLES)
    ADMINISTER = "administer"  # keys, users, audit
    READ_EVALUATION = "read_evaluation"  # evaluation (考核评价): rates per unit, scoped like cases (workers: own grids)


_A, _D, _O, _P, _W, _V, _I = ROLES
TABLE: dict[Can, frozenset[str]] = {
    Can.READ_MAP: frozenset({_A, _D, _O, _P, _W, _V}),
    Can.READ_WALL: frozenset({_A, _D, _P, _V}),
    Can.READ_COVERAGE: frozenset({_A, _D, _P, _W, _V}),
    Can.LOCATE: frozenset(ROLES),
    Can.SEARCH_ADDRESSES: frozenset({_A, _D, _O, _P, _W}),
    Can.REVIEW_ADDRESSES: frozenset({_A, _D, _O, _P}),
    Can.FILE_REPORTS: frozenset({_A, _O, _W, _I}),
    Can.READ_REPORTS: frozenset({_A, _D, _O, _P, _W, _I}),
    Can.READ_CASES: frozenset({_A, _D, _O, _P, _W}),
    Can.ACT_ON_CASES: frozenset({_A, _D, _W}),
    Can.DISPATCH: frozenset({_A, _D}),
    Can.READ_STAFF: frozenset({_A, _D, _O, _P, _W}),
    Can.MANAGE_STAFF: frozenset({_A, _D}),
    Can.SEE_CALLER: frozenset({_A, _D, _O}),
    Can.SEE_STAFF_PHONE: frozenset({_A, _D, _O, _W}),
    Can.PLAN: frozenset({_A, _P}),
    Can.ADMINISTER: frozenset({_A}),
    Can.READ_EVALUATION: frozenset({_A, _D, _P, _W}),
}
assert set(TABLE) == set(Can), "every capability has a line in the table"
assert all(_A in roles for roles in TABLE.values()), "admin may do everything"


def normalize(role: str) -> str:
    """The role a given name means now (``commander`` → ``dispatcher``); unknown names are returned as they are."""
    return DEPRECATED.get(role, role)


def accepted_roles() -> tuple[str, ...]:
    """Role names accepted on input: the roles and, for one release, their deprecated names."""
    return (*ROLES, *DEPRECATED)


def can(role: str, capability: Can) -> bool:
    return role in TABLE[capability]


def roles_with(capability: Can) -> tuple[str, ...]:
    """The roles holding ``capability``, in the table's order (for messages and the README)."""
    return tuple(r for r in ROLES if r in TABLE[capability])


def grid_scope(principal: Principal) -> list[str] | None:
    """The grids a principal is held to, or None for every grid. Workers see their own grids only. (A list: the
    database driver sends it as a text array.)"""
    return list(principal.grid_codes) if principal.role == "worker" else None


def filer_scope(principal: Principal) -> str | None:
    """For roles that see only what they filed (operator, intake): the ``report.filed_by`` value they may
    read; None for roles that read by grid. An intake key reads what its key posted, an operator what they
    filed as a user."""
    if principal.role in ("operator", "intake"):
        return filed_by(principal)
    return None


def filed_by(principal: Principal) -> str:
    """How a report records who filed it: ``user:<id>`` for a person, ``key:<id>`` for a system's key."""
    return f"user:{principal.user_id}" if principal.user_id is not None else f"key:{principal.key_id}"


def row_scope(principal: Principal, *, grid: str, filer: str) -> tuple[str, dict[str, object]]:
    """A SQL condition holding rows to what ``principal`` may read, with its parameters.

    ``grid`` is the SQL expression of the row's grid code, ``filer`` that of the ``report.filed_by`` behind it:
    workers read by grid, operators and intake by filer, the other readers everything."""
    grids, filer_value = grid_scope(principal), filer_scope(principal)
    if grids is not None:
        return f"{grid} = ANY(CAST(:_scope AS text[]))", {"_scope": grids}
    if filer_value is not None:
        return f"{filer} = :_filer", {"_filer": filer_value}
    return "TRUE", {}


def sees(principal: Principal, *, grid_code: str | None, filer: str | None) -> bool:
    """:func:`row_scope` for one row already read."""
    grids, filer_value = grid_scope(principal), filer_scope(principal)
    if grids is not None:
        return grid_code is not None and grid_code in grids
    if filer_value is not None:
        return filer == filer_value
    return True

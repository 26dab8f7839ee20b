"""Which reports a principal may read: the one rule every report read path applies.

Issue 17, defect 1: an intake key read the latest thousand reports of every grid through Open311, and any
report by its sequential id. The rule, in one place:

* ``intake`` (a machine system) and ``operator`` (a hotline seat) read back only the reports they filed
  themselves: a key the reports posted with that key (``report.key_id``), a signed-in user the reports it
  posted (``report.user_id``). A key is its system's identity: the ``source`` field of a report is the
  sender's own label, which any intake key could claim, so it cannot be what grants reading. Rotating a key
  therefore starts a fresh history (documented in the README).
* ``worker`` reads the reports routed to its own grids (a worker key, a system, has none: nothing).
* every other role reads every report.

A report outside the scope answers 404 like a report that does not exist (never 403), so that sequential ids
cannot be probed. Service functions take a :class:`ReadScope` and splice :data:`ReadScope.SQL` into their
WHERE clause, with the report aliased ``r`` and its latest routing ``rt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.auth.service import Principal

#: Roles that read only the reports they filed themselves.
OWN_FILINGS_ROLES = frozenset({"intake", "operator"})
#: Roles that read only the reports routed to their own grids.
OWN_GRIDS_ROLES = frozenset({"worker"})


@dataclass(frozen=True, slots=True)
class ReadScope:
    """The reports one principal may read; ``None`` in a field means "not restricted by this"."""

    grids: tuple[str, ...] | None = None
    key_id: int | None = None
    user_id: int | None = None

    #: The condition, for a query over ``report r`` joined to its latest ``routing rt``.
    SQL = ("(CAST(:scope_grids AS text[]) IS NULL OR rt.grid_code = ANY(CAST(:scope_grids AS text[])))"
           " AND (CAST(:scope_key AS bigint) IS NULL OR r.key_id = CAST(:scope_key AS bigint))"
           " AND (CAST(:scope_user AS bigint) IS NULL OR r.user_id = CAST(:scope_user AS bigint))")

    @property
    def params(self) -> dict[str, Any]:
        return {"scope_grids": list(self.grids) if self.grids is not None else None,
                "scope_key": self.key_id, "scope_user": self.user_id}

    def allows(self, *, key_id: int | None, user_id: int | None, grid_code: str | None) -> bool:
        """The same rule in Python, for a report already read (e.g. an idempotent replay)."""
        return ((self.grids is None or grid_code in self.grids)
                and (self.key_id is None or key_id == self.key_id)
                and (self.user_id is None or user_id == self.user_id))


#: No restriction.
EVERYTHING = ReadScope()


def filed_by(principal: Principal) -> dict[str, int | None]:
    """The poster columns of a report that ``principal`` files (``key_id`` is 0 for a signed-in user)."""
    if principal.user_id is not None:
        return {"key_id": None, "user_id": principal.user_id}
    return {"key_id": principal.key_id, "user_id": None}


def read_scope(principal: Principal) -> ReadScope:
    """The reports ``principal`` may read (see the module docstring)."""
    if principal.role in OWN_FILINGS_ROLES:
        return ReadScope(user_id=principal.user_id) if principal.user_id is not None \
            else ReadScope(key_id=principal.key_id)
    if principal.role in OWN_GRIDS_ROLES:
        return ReadScope(grids=tuple(principal.grid_codes))
    return EVERYTHING

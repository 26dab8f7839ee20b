"""The case state machine: the ONE place that says which status may follow which, and who may move it.

Lifecycle (DESIGN.md §2, after the digital urban management practice 上报 → 立案 → 派遣 → 处置 → 核查 → 结案):

    reported → registered → dispatched → in_progress → resolved → verified → closed
        │           │                         ▲             │
        └→ rejected ┘                         └── returned ←┘   (rework; then accepted or re-dispatched)

    registered | dispatched | in_progress | returned → escalated   (a whistle, api/cases/escalation.py)
    escalated → dispatched (to a department) | in_progress (taken up) | resolved (reported back solved)

    open status → the same status, in another grid: a transfer (改派到其他网格, api/cases/transfer.py)
    closed → dispatched   (重办: reopened by a dissatisfied follow-up, api/cases/followup.py; a new deadline)

``rejected`` (duplicate, invalid) is terminal; ``closed`` is too, but for a reopening after a follow-up.
Roles are API roles; ``admin`` may do
anything the table allows. A ``worker`` may act only on cases of its own grids (checked in service.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from api.core.errors import Forbidden, IllegalTransition

STATUSES = ("reported", "registered", "dispatched", "in_progress", "resolved", "verified", "closed",
            "escalated", "returned", "rejected")
#: Still someone's work: counted as overdue past the deadline. Resolution stops the clock.
OPEN_STATUSES = ("reported", "registered", "dispatched", "in_progress", "escalated", "returned")
TERMINAL = ("closed", "rejected")
#: :data:`OPEN_STATUSES` as a SQL list, for ``status IN (...)`` in queries.
OPEN_SQL = ", ".join(f"'{s}'" for s in OPEN_STATUSES)
#: How each final status is reached along the lifecycle, for the event log of imported history (the bulk
#: import); every step is an edge of :data:`TRANSITIONS` (tests/api/cases/test_workflow.py).
PATHS = {
    "reported": ["reported"],
    "registered": ["reported", "registered"],
    "dispatched": ["reported", "registered", "dispatched"],
    "in_progress": ["reported", "registered", "dispatched", "in_progress"],
    "resolved": ["reported", "registered", "dispatched", "in_progress", "resolved"],
    "verified": ["reported", "registered", "dispatched", "in_progress", "resolved", "verified"],
    "closed": ["reported", "registered", "dispatched", "in_progress", "resolved", "verified", "closed"],
    "escalated": ["reported", "registered", "dispatched", "escalated"],
    "returned": ["reported", "registered", "dispatched", "in_progress", "resolved", "returned"],
    "rejected": ["reported", "rejected"],
}


@dataclass(frozen=True, slots=True)
class Rule:
    action: str
    roles: tuple[str, ...]
    #: Set when the transition needs more than a note and is made by another endpoint.
    via: str | None = None
    #: A step of its own on the screens (``actions``: a transfer, a reopening), not a status to move to (``next``).
    action_only: bool = False


C, W = "dispatcher", "worker"
TRANSITIONS: dict[tuple[str, str], Rule] = {
    ("reported", "registered"): Rule("register", (C, W)),
    ("reported", "rejected"): Rule("reject", (C,)),
    ("registered", "rejected"): Rule("reject", (C,)),
    ("registered", "dispatched"): Rule("dispatch", (C,)),
    ("returned", "dispatched"): Rule("dispatch", (C,)),
    ("escalated", "dispatched"): Rule("dispatch", (C,)),
    ("dispatched", "in_progress"): Rule("accept", (C, W)),
    ("returned", "in_progress"): Rule("accept", (C, W)),
    ("escalated", "in_progress"): Rule("accept", (C, W)),
    ("in_progress", "resolved"): Rule("resolve", (C, W)),
    ("escalated", "resolved"): Rule("resolve", (C, W)),
    ("resolved", "verified"): Rule("verify", (C, W)),
    ("resolved", "returned"): Rule("return", (C, W)),
    ("verified", "closed"): Rule("close", (C,)),
    ("registered", "escalated"): Rule("escalate", (C, W), via="POST /api/v1/cases/{id}/whistles"),
    ("dispatched", "escalated"): Rule("escalate", (C, W), via="POST /api/v1/cases/{id}/whistles"),
    ("in_progress", "escalated"): Rule("escalate", (C, W), via="POST /api/v1/cases/{id}/whistles"),
    ("returned", "escalated"): Rule("escalate", (C, W), via="POST /api/v1/cases/{id}/whistles"),
    # A transfer to another grid (改派到其他网格) keeps the status: a self-edge, offered in ``actions``, not ``next``.
    **{(s, s): Rule("transfer", (C,), via="POST /api/v1/cases/{id}/grid", action_only=True) for s in OPEN_STATUSES},
    # Reopening (重办) is part of a dissatisfied follow-up: offered in ``actions`` too, not as a status to move to.
    ("closed", "dispatched"): Rule("reopen", (C,), via="POST /api/v1/cases/{id}/followup", action_only=True),
}
#: The action that reopens a closed case (重办): counted in ``cases.reopen_count``.
REOPEN = "reopen"


def next_statuses(status: str, role: str) -> list[str]:
    """Statuses a role may move a case in ``status`` to (through any endpoint)."""
    return [to for (frm, to), rule in TRANSITIONS.items()
            if frm == status and not rule.action_only and (role == "admin" or role in rule.roles)]


def actions(status: str, role: str) -> list[str]:
    """Steps of their own a role may take on a case in ``status`` (``action_only`` rows: a transfer to another
    grid, which keeps the status; a reopening, made by a dissatisfied follow-up)."""
    return [rule.action for (frm, _), rule in TRANSITIONS.items()
            if frm == status and rule.action_only and (role == "admin" or role in rule.roles)]


def check(status: str, to: str, role: str) -> Rule:
    """The rule for ``status → to`` if ``role`` may make it; 409 if the table has no such edge, 403 if the
    edge exists but not for this role."""
    if to not in STATUSES:
        raise IllegalTransition(f"unknown status {to!r}", from_status=status, to_status=to)
    rule = TRANSITIONS.get((status, to))
    if rule is None:
        allowed = [t for (f, t) in TRANSITIONS if f == status]
        raise IllegalTransition(
            f"a case cannot go from {status} to {to}"
            + (f"; from {status} it can go to: {', '.join(allowed)}" if allowed else f"; {status} is final"),
            from_status=status, to_status=to, allowed=allowed)
    if role != "admin" and role not in rule.roles:
        raise Forbidden(f"the role {role} may not {rule.action} a case ({status} → {to})")
    return rule

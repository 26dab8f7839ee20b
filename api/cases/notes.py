"""Timeline notes that gridmap writes itself, stored as a code with parameters (issue 24).

A case event written by the system (a report received, an imported report, a merge, a reassignment, a department
reporting back, a case moved by a published layout) carries ``note_code`` and ``note_params``, so that every screen
says it in its own language (``note.<code>`` in web/i18n/*.json, said by ``noteText`` in web/js/i18n.js). ``note``
keeps an English text for API clients and exports that read notes as text (Open311's ``servicerequestupdates``).
What a person typed is stored as typed, without a code: a note that happens to read "reassigned to ..." is never
taken for a system note, which matching the text on display used to do.

The codes and their English texts are defined here once; the migration 0028 backfill recognises the texts these
functions wrote before (it carries its own copy of the patterns, as migrations do), and the one SQL writer
(api/planner/publish.py, re-routed cases) writes its code and parameters in its statement.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson


def _reported_back(p: dict[str, Any]) -> str:
    who = f"department {p['department']}" if "department" in p else f"person {p['person']}"
    return f"{who} reported (报到)" + (" late" if p.get("late") else "")


#: code -> the English ``note`` text written with it, from its parameters.
SYSTEM_NOTES: dict[str, Callable[[dict[str, Any]], str]] = {
    "received": lambda p: f"received from {p['source']}" + (f" ({p['reason']})" if p.get("reason") else ""),
    "imported": lambda p: "imported report",
    "merged_into": lambda p: f"merged into case {p['case']} (并单)",
    "merged_in": lambda p: f"case {p['case']} (report {p['report']}) merged in (并单)",
    "reassigned": lambda p: f"reassigned to {p['name']}",
    "reported_back": _reported_back,
    "rerouted": lambda p: f"grid {p.get('from') or '-'} → {p['to']} (layout {p['layout']} published)",
}


def system(code: str, **params: Any) -> dict[str, Any]:
    """``note``, ``note_code`` and ``note_params`` of a system note (parameters that are None or False left out).

    >>> system("received", source="hotline_12345", reason=None)
    {'note': 'received from hotline_12345', 'note_code': 'received', 'note_params': {'source': 'hotline_12345'}}
    """
    kept = {k: v for k, v in params.items() if v is not None and v is not False}
    return {"note": SYSTEM_NOTES[code](kept), "note_code": code, "note_params": kept or None}


def written(note: str | None, code: str, **params: Any) -> dict[str, Any]:
    """The note a person wrote, as typed (no code); without one, the system's note ``code``.

    >>> written("called the owner", "reassigned", name="王芳")["note_code"] is None
    True
    >>> written(None, "reassigned", name="王芳")["note"]
    'reassigned to 王芳'
    """
    return {"note": note, "note_code": None, "note_params": None} if note else system(code, **params)


def params_json(params: dict[str, Any] | None) -> str | None:
    """``note_params`` as JSON text for a SQL parameter (``CAST(:p AS jsonb)``)."""
    return None if params is None else orjson.dumps(params).decode()

"""The ONE translation of a routing result (:class:`geo.routing.Routed`, indexes into a layout's grids) into
the decision gridmap records and answers: grid code or none, method name, reason, candidate codes. Live intake
(``reports.service.prepare_report``), the bulk import and ``/locate`` all read it from here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geo.routing import METHODS, Routed

#: Why a report has no grid.
OUTSIDE_COVERAGE = "outside_coverage"
NO_LAYOUT = "no_layout_in_force"
NO_LOCATION = "no_location"
_METHODS = np.array(METHODS, dtype=object)


@dataclass(frozen=True, slots=True)
class Decisions:
    """One decision per routed point: arrays aligned with the input, ``candidates`` only where there are any."""

    #: The grid's code, None when unrouted.
    grid: np.ndarray
    #: ``inside``, ``edge``, ``nearest`` or ``unrouted``.
    method: np.ndarray
    #: Metres to the grid (0 inside; NaN when no grid is within reach), unrounded.
    distance_m: np.ndarray
    #: None when routed, else :data:`OUTSIDE_COVERAGE`.
    reason: np.ndarray
    #: For edge points: the codes of the other grids that also cover them.
    candidates: dict[int, list[str]]


def decide(routed: Routed, codes: np.ndarray) -> Decisions:
    """Translate ``routed`` against the layout's grid ``codes`` (aligned with its index)."""
    got = routed.grid >= 0
    grid = np.full(len(routed.grid), None, dtype=object)
    grid[got] = np.asarray(codes, dtype=object)[routed.grid[got]]
    return Decisions(grid=grid, method=_METHODS[routed.method], distance_m=np.asarray(routed.distance_m),
                     reason=np.where(got, None, OUTSIDE_COVERAGE).astype(object),
                     candidates={i: [str(codes[c]) for c in cand] for i, cand in routed.candidates.items()})

"""The grid numbering rule: a community's grids are numbered in reading order, west to east within rows
taken from the north (the 15-digit code's last three digits), and the check that finds where they are not.
Used by the coverage analysis (``code_sequence`` findings, :mod:`geo.coverage`) and the region proposals.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Rows of the numbering rule (the sample's generator and the import use rows of ~300 m).
ROW_HEIGHT_DEG = 0.0027


def reading_order(lon: ArrayLike, lat: ArrayLike, *, row_height_deg: float = ROW_HEIGHT_DEG) -> NDArray[np.int64]:
    """The numbering rule of the sample's generator: rows of ``row_height_deg`` counted south from the
    northernmost point, then west→east. Returns the order (indices) of the points.

    >>> reading_order([116.40, 116.41, 116.40, 116.41], [39.91, 39.9105, 39.90, 39.90]).tolist()
    [0, 1, 2, 3]
    """
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    row = np.floor((y.max() - y) / row_height_deg)
    return np.lexsort((x, row))


def sequence_violations(
    lon: ArrayLike, lat: ArrayLike, seq: ArrayLike, *, row_height_deg: float = ROW_HEIGHT_DEG,
    tolerance_deg: float = 0.0002,
) -> NDArray[np.int64]:
    """Pairs numbered against reading order, beyond a tolerance: rows ``(a, b)`` where ``a`` has the
    smaller sequence number but ``b`` clearly comes first (a row further north by more than
    ``tolerance_deg``, or the same row and further west by more than it). A pair whose centroids are
    within the tolerance of a row boundary or of each other is ambiguous and passes.

    >>> sequence_violations([116.40, 116.41, 116.40], [39.91, 39.91, 39.90], [1, 2, 3]).tolist()
    []
    >>> sequence_violations([116.40, 116.41, 116.40], [39.91, 39.91, 39.90], [2, 1, 3]).tolist()
    [[1, 0]]
    """
    x, y, s = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), np.asarray(seq)
    if len(x) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    top = y.max()
    row_lo = np.maximum(np.floor((top - y - tolerance_deg) / row_height_deg), 0)
    row_hi = np.floor((top - y + tolerance_deg) / row_height_deg)
    a, b = np.triu_indices(len(x), 1)
    swap = s[a] > s[b]
    a, b = np.where(swap, b, a), np.where(swap, a, b)  # now s[a] < s[b]
    earlier_row = row_hi[b] < row_lo[a]
    same_row = (row_lo[a] == row_hi[a]) & (row_lo[b] == row_hi[b]) & (row_lo[a] == row_lo[b])
    bad = earlier_row | (same_row & (x[a] - x[b] > tolerance_deg))
    return np.column_stack([a[bad], b[bad]]).astype(np.int64)

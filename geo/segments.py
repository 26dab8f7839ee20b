"""Polygon rings as flat segment arrays, cut into short pieces, and sorted-key set operations: the numpy
building blocks of the routing index's cells (geo/routing.py), kept apart so that each file stays readable.

Examples
--------
>>> from shapely import box
>>> ax, ay, bx, by, grid = ring_segments(np.array([box(0, 0, 1, 1)]))
>>> len(ax), grid.tolist()
(4, [0, 0, 0, 0])
>>> pieces = cut_segments((ax, ay, bx, by, grid), 0.3)
>>> len(pieces[0])  # each side of length 1 in four pieces
16
>>> pairs_unique(np.array([2, 1, 2]), np.array([0, 5, 0]), 10)
(array([1, 2]), array([5, 0]))
>>> isin_sorted(np.array([3, 4]), np.array([1, 3])).tolist()
[True, False]
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray


def pairs_unique(a: NDArray[np.int64], b: NDArray[np.int64], nb: int) -> tuple[NDArray, NDArray]:
    """Unique (a, b) pairs sorted by a then b."""
    key = sorted_unique(a.astype(np.int64) * nb + b)
    return key // nb, key % nb


def sorted_unique(a: NDArray[np.int64]) -> NDArray[np.int64]:
    """np.unique by sorting (numpy 2's hash-based unique was ten times slower on these keys)."""
    a = np.sort(a)
    return a[np.r_[True, a[1:] != a[:-1]]] if a.size else a


def isin_sorted(a: NDArray[np.int64], sorted_b: NDArray[np.int64]) -> NDArray[np.bool_]:
    """``np.isin(a, sorted_b)`` for a sorted ``sorted_b``, by binary search."""
    if not sorted_b.size:
        return np.zeros(a.size, dtype=bool)
    pos = np.clip(np.searchsorted(sorted_b, a), 0, sorted_b.size - 1)
    return sorted_b[pos] == a


def ring_segments(polygons: NDArray) -> tuple[NDArray, ...]:
    """Every ring segment as (ax, ay, bx, by, grid), rings of multipolygons and holes included."""
    if not len(polygons):
        z = np.zeros(0)
        return z, z, z, z, np.zeros(0, np.int64)
    parts, part_of = shapely.get_parts(polygons, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    xy, coord_of = shapely.get_coordinates(rings, return_index=True)
    same = coord_of[1:] == coord_of[:-1]
    grid = part_of[ring_of[coord_of[:-1][same]]]
    return xy[:-1, 0][same], xy[:-1, 1][same], xy[1:, 0][same], xy[1:, 1][same], grid.astype(np.int64)


def cut_segments(seg: tuple[NDArray, ...], size: float) -> tuple[NDArray, ...]:
    """Segments cut into pieces no longer than ``size`` (numpy; pieces carry their grid)."""
    ax, ay, bx, by, g = seg
    k = np.maximum(1, np.ceil(np.hypot(bx - ax, by - ay) / size)).astype(np.int64)
    rep = np.repeat(np.arange(ax.size), k)
    j = np.arange(rep.size) - np.repeat(np.cumsum(k) - k, k)
    t0, t1 = j / k[rep], (j + 1) / k[rep]
    dx, dy = (bx - ax)[rep], (by - ay)[rep]
    return (ax[rep] + dx * t0, ay[rep] + dy * t0, np.where(j + 1 == k[rep], bx[rep], ax[rep] + dx * t1),
            np.where(j + 1 == k[rep], by[rep], ay[rep] + dy * t1), g[rep])

"""The coverage analysis on Dask: the layout shipped once, each worker cuts its own shards.

The client packs the layout into plain arrays (:func:`pack_layout`: coordinates and offsets, or WKB
where the geometry is not simple; attribute columns as they are) and scatters it **once** to every
worker. Each task names a group of streets; the worker builds (once per layout, cached) the
:class:`geo.coverage.ShardPlan` from bounds and the small frames, selects the owned rows and halo of
its streets, turns only those rows into geometries, and runs the very same
:func:`geo.coverage.analyse_shard`. The client merges the small partial results
(:func:`geo.coverage.merge`). Every per-row answer depends only on the row and its neighbours, never on
what else is in the shard, so the result is identical to :func:`geo.coverage.analyse` (tested in
tests/geo/test_cluster.py).

By default a ``distributed.LocalCluster`` of worker processes (one thread each: shapely releases the
GIL only in parts, processes scale) is started and stopped; ``scheduler`` names a running cluster,
``client`` an open ``distributed.Client``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geo.coverage import (
    CoverageResult,
    LayoutData,
    Partial,
    ShardPlan,
    Tolerances,
    analyse_shard,
    merge,
    shard_meta,
    street_table,
)

_FRAMES = ("communities", "grids", "buildings", "facilities", "reports")


@dataclass
class PackedGeoms:
    """Geometries as arrays: ``point`` (``coords`` n × 2), ``polygon`` (single-ring polygons: ``coords``
    and per-geometry ``offsets`` into them) or ``wkb`` (anything else, an object array of bytes).

    >>> g = [shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 4)]
    >>> p = PackedGeoms.pack(g)
    >>> p.kind, p.take(np.array([1]))[0].bounds, p.bounds().tolist()
    ('polygon', (2.0, 2.0, 3.0, 4.0), [[0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 4.0]])
    >>> PackedGeoms.pack([shapely.box(0, 0, 2, 2).difference(shapely.box(0.5, 0.5, 1, 1))]).kind
    'wkb'
    """

    kind: str
    n: int
    coords: NDArray[np.float64] | None = None
    offsets: NDArray[np.int64] | None = None
    wkb: NDArray[np.object_] | None = None

    @classmethod
    def pack(cls, geoms: Any) -> PackedGeoms:
        g = np.asarray(geoms, dtype=object)
        n = len(g)
        if n:
            tid = shapely.get_type_id(g)
            simple = not (shapely.has_z(g).any() or shapely.is_empty(g).any())
            if simple and (tid == 0).all():
                return cls("point", n, coords=shapely.get_coordinates(g))
            if simple and (tid == 3).all() and not shapely.get_num_interior_rings(g).any():
                offsets = np.zeros(n + 1, dtype=np.int64)
                np.cumsum(shapely.get_num_coordinates(g), out=offsets[1:])
                return cls("polygon", n, coords=shapely.get_coordinates(g), offsets=offsets)
        return cls("wkb", n, wkb=shapely.to_wkb(g) if n else np.zeros(0, dtype=object))

    def take(self, idx: NDArray[np.int64]) -> NDArray[np.object_]:
        """The geometries at positions ``idx`` (only those are built)."""
        idx = np.asarray(idx, dtype=np.int64)
        if self.kind == "point":
            return shapely.points(self.coords[idx])
        if self.kind == "polygon":
            if len(idx) == 0:
                return np.zeros(0, dtype=object)
            start = self.offsets[idx]
            length = self.offsets[idx + 1] - start
            ring = np.zeros(len(idx) + 1, dtype=np.int64)
            np.cumsum(length, out=ring[1:])
            pos = np.repeat(start - ring[:-1], length) + np.arange(ring[-1])
            return shapely.from_ragged_array(shapely.GeometryType.POLYGON, self.coords[pos],
                                             (ring, np.arange(len(idx) + 1, dtype=np.int64)))
        return np.asarray(shapely.from_wkb(self.wkb[idx]), dtype=object)

    def bounds(self) -> NDArray[np.float64]:
        """``(n, 4)`` bounds, from the coordinates when there are some (nothing built)."""
        if self.kind == "point":
            return np.repeat(self.coords, 2, axis=0).reshape(-1, 4)
        if self.kind == "polygon":
            if self.n == 0:
                return np.zeros((0, 4))
            x, y, at = self.coords[:, 0], self.coords[:, 1], self.offsets[:-1]
            return np.column_stack([np.minimum.reduceat(x, at), np.minimum.reduceat(y, at),
                                    np.maximum.reduceat(x, at), np.maximum.reduceat(y, at)])
        return shapely.bounds(self.take(np.arange(self.n))).reshape(-1, 4)


@dataclass
class PackedLayout:
    """A :class:`geo.coverage.LayoutData` as arrays: per frame, the attribute columns and the geometry."""

    attrs: dict[str, pd.DataFrame]
    geoms: dict[str, PackedGeoms]
    streets: pd.DataFrame  # geo.coverage.street_table: code, geometry (few rows)
    meta: dict[str, Any] = field(default_factory=dict)
    #: build every geometry once on each worker and keep it (for a layout analysed many times), rather
    #: than only each shard's rows at each task
    keep_geometries: bool = False

    def frame(self, name: str, idx: NDArray[np.int64] | None = None) -> pd.DataFrame:
        """Rows ``idx`` (all by default) of a frame with its geometry built."""
        a = self.attrs[name]
        if idx is None:
            idx = np.arange(len(a))
        out = a.iloc[idx].reset_index(drop=True)
        out["geometry"] = pd.Series(self.geoms[name].take(idx), dtype=object)
        return out


def pack_layout(data: LayoutData) -> PackedLayout:
    """Pack a layout for shipping (frames sorted as :func:`geo.coverage.analyse_shard` sorts them).

    >>> from geo.synthetic import make_world
    >>> w = make_world(streets=2)
    >>> p = pack_layout(w)
    >>> p.geoms["buildings"].kind, p.geoms["grids"].kind, p.frame("grids").geometry.equals(w.grids.geometry)
    ('polygon', 'wkb', True)
    """
    frames = {
        "communities": _sorted(data.communities), "grids": _sorted(data.grids), "buildings": _sorted(data.buildings),
        "facilities": data.facilities.reset_index(drop=True), "reports": data.reports.reset_index(drop=True),
    }
    attrs, geoms = {}, {}
    for k, df in frames.items():
        attrs[k] = df.drop(columns="geometry")
        geoms[k] = PackedGeoms.pack(np.asarray(df["geometry"].to_numpy(), dtype=object) if len(df) else [])
    return PackedLayout(attrs, geoms, street_table(frames["communities"], data.streets), dict(data.meta))


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    if len(df) == 0 or df["code"].is_monotonic_increasing:
        return df.reset_index(drop=True)
    return df.sort_values("code", kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------------------------
# On the workers


@dataclass
class _Prepared:
    packed: PackedLayout
    plan: ShardPlan
    communities: pd.DataFrame
    grids: pd.DataFrame
    facilities: pd.DataFrame
    meta: dict[str, Any]
    kept: dict[str, NDArray[np.object_]] = field(default_factory=dict)

    def frame(self, name: str, idx: NDArray[np.int64]) -> pd.DataFrame:
        if name not in self.kept:
            return self.packed.frame(name, idx)
        out = self.packed.attrs[name].iloc[idx].reset_index(drop=True)
        out["geometry"] = pd.Series(self.kept[name][idx], dtype=object)
        return out


_PREPARED: OrderedDict[str, _Prepared] = OrderedDict()
_LOCK = threading.Lock()


def prepare(packed: PackedLayout, key: str) -> _Prepared:
    """The worker's plan for one packed layout, built once and kept (with the layout) for the next tasks."""
    with _LOCK:
        if key in _PREPARED:
            _PREPARED.move_to_end(key)
            return _PREPARED[key]
        comms, grids, fac = packed.frame("communities"), packed.frame("grids"), packed.frame("facilities")
        blds, reps = packed.attrs["buildings"], packed.attrs["reports"]
        plan = ShardPlan.build(
            streets=packed.streets, communities=comms, grids=grids, facilities=fac,
            building_bounds=packed.geoms["buildings"].bounds(),
            building_owned=_owned(blds), report_xy=packed.geoms["reports"].bounds()[:, :2], report_owned=_owned(reps))
        prep = _Prepared(packed, plan, comms, grids, fac, shard_meta(packed.meta, comms, fac, ""))
        if packed.keep_geometries:
            prep.kept = {k: packed.geoms[k].take(np.arange(packed.geoms[k].n)) for k in ("buildings", "reports")}
        _PREPARED[key] = prep
        while len(_PREPARED) > 2:
            _PREPARED.popitem(last=False)
        return prep


def _on_worker(key: str) -> _Prepared:
    """The prepared layout ``key`` on this worker: kept from an earlier task, else from the worker's
    memory (the broadcast copy), else fetched from the cluster, where :func:`ship_layout` published it
    under its key (a replica the scheduler's memory manager dropped, a worker that joined later)."""
    with _LOCK:
        if key in _PREPARED:
            _PREPARED.move_to_end(key)
            return _PREPARED[key]
    from distributed import get_client, get_worker

    try:
        packed = get_worker().data[key]
    except KeyError:
        packed = get_client().get_dataset(key).result()
    return prepare(packed, key)


def _owned(df: pd.DataFrame) -> NDArray[np.bool_]:
    return df["owned"].to_numpy(dtype=bool) if "owned" in df.columns else np.ones(len(df), dtype=bool)


def shard_of(prep: _Prepared, group: list[int], *, halo_m: float = 0.0) -> LayoutData:
    """The shard of the streets ``group`` (positions in the street table), cut on the worker."""
    rows = prep.plan.rows(group, halo_m=halo_m)
    small = {"communities": prep.communities, "grids": prep.grids, "facilities": prep.facilities}
    parts = {}
    for k, (idx, owned) in rows.items():
        df = small[k].iloc[idx] if k in small else prep.frame(k, idx)
        parts[k] = df.assign(owned=owned)
    name = ",".join(str(prep.packed.streets["code"].iloc[s]) for s in group)
    return LayoutData(**parts, meta={**prep.meta, "shard": name})


def run_group(key: str, group: list[int], tol: Tolerances, catchment: Any = None, halo_m: float = 0.0, *,
              packed: PackedLayout | None = None) -> Partial:
    """What a worker runs: cut the shard of a group of streets of the shipped layout ``key``, then the
    very same :func:`geo.coverage.analyse_shard`. A layout with no streets at all is one shard.
    ``packed``: the layout itself (to run it in this process).

    >>> from geo.synthetic import make_world
    >>> from geo.coverage import analyse, merge
    >>> w = make_world(streets=3)
    >>> p = pack_layout(w)
    >>> parts = [run_group("w", g, Tolerances(), packed=p) for g in street_groups(np.ones(3), 2)]
    >>> merge(parts, w.grids).summary == analyse(w).summary
    True
    """
    prep = prepare(packed, key) if packed is not None else _on_worker(key)
    if len(prep.packed.streets) == 0:
        whole = {k: prep.packed.frame(k) for k in _FRAMES}
        return analyse_shard(LayoutData(**whole, meta=dict(prep.packed.meta)), tol, catchment=catchment)
    return analyse_shard(shard_of(prep, group, halo_m=halo_m), tol, catchment=catchment)


# ----------------------------------------------------------------------------------------------
# On the client


def street_groups(weights: NDArray[np.float64], n: int) -> list[list[int]]:
    """Streets (in code order, neighbours mostly) cut into about ``n`` runs of similar weight, heaviest first.

    >>> street_groups(np.array([1.0, 1, 1, 1, 5]), 2)
    [[4], [0, 1, 2, 3]]
    """
    w = np.maximum(np.asarray(weights, dtype=float), 1e-9)
    if len(w) == 0:
        return []
    n = max(1, min(n, len(w)))
    cut = np.searchsorted(np.cumsum(w) / w.sum(), np.arange(1, n) / n, side="left") + 1
    groups = [g.tolist() for g in np.split(np.arange(len(w)), np.unique(np.clip(cut, 1, len(w) - 1)))
              if len(g)] if n > 1 else [list(range(len(w)))]
    return sorted(groups, key=lambda g: -w[g].sum())


def _weights(data: LayoutData, streets: pd.DataFrame) -> NDArray[np.float64]:
    """A street's share of the work, roughly: its grids (the buildings follow them)."""
    st = dict(zip(data.communities["code"], data.communities["street_code"], strict=True))
    counts = data.grids["community_code"].map(st).value_counts()
    return counts.reindex(streets["code"]).fillna(0).to_numpy(dtype=float) + 1.0


def _prepare_here(key: str, dask_worker: Any = None) -> bool:
    """Run on every worker by :func:`ship_layout`: build the plan while the layout is being shipped."""
    try:
        prepare(dask_worker.data[key], key)
    except KeyError:  # the replica is already gone: the first task fetches it
        return False
    return True


def _forget(key: str) -> None:
    with _LOCK:
        _PREPARED.pop(key, None)


@dataclass
class ShippedLayout:
    """A layout packed and held by every worker of a cluster (:func:`ship_layout`), with what the client
    needs to analyse it: the street table (codes), each street's weight and the grids (for the merge).
    Analyse it as often as needed (other tolerances, catchments): each time only tasks go out."""

    future: Any  # distributed.Future of the PackedLayout
    street_codes: list[str]
    weights: NDArray[np.float64]
    grids: pd.DataFrame

    @property
    def key(self) -> str:
        return str(self.future.key)

    def drop(self) -> None:
        """Free the layout on the cluster (the workers' plans too)."""
        client = self.future.client
        client.unpublish_dataset(self.key)
        client.run(_forget, self.key)
        self.future.release()


def ship_layout(client: Any, data: LayoutData, *, keep_geometries: bool = True) -> ShippedLayout:
    """Pack the layout, scatter it once to every worker (directly, not through the scheduler) and let
    each worker build its :class:`geo.coverage.ShardPlan` now rather than at its first task, and (with
    ``keep_geometries``) every footprint, so that each analysis of it only cuts and analyses."""
    packed = pack_layout(data)
    packed.keep_geometries = keep_geometries
    future = client.scatter(packed, broadcast=True, hash=False, direct=True)
    client.publish_dataset(**{str(future.key): future})
    if len(packed.streets):
        client.run(_prepare_here, future.key)
    return ShippedLayout(future, list(packed.streets["code"]), _weights(data, packed.streets), data.grids)


def analyse_distributed(
    data: LayoutData | ShippedLayout,
    tol: Tolerances | None = None,
    *,
    scheduler: str | None = None,
    workers: int = 2,
    catchment: Any = None,
    client: Any = None,
    tasks_per_worker: int = 6,
) -> CoverageResult:
    """Analyse a layout on Dask.

    ``data``: a layout in memory (shipped for this analysis, then dropped) or a
    :class:`ShippedLayout` already on the cluster (its own client is used). ``client``: an existing
    ``distributed.Client`` (kept open); ``scheduler``: the address of a running scheduler; neither: a
    LocalCluster of ``workers`` processes, started and stopped here. One task per group of streets,
    about ``tasks_per_worker`` a worker so that they balance; each returns a small
    :class:`geo.coverage.Partial`.

    >>> from distributed import Client, LocalCluster
    >>> from geo.coverage import analyse
    >>> from geo.synthetic import make_world
    >>> w = make_world(streets=3)
    >>> with LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster, Client(cluster) as c:
    ...     once = analyse_distributed(w, client=c)
    ...     shipped = ship_layout(c, w)
    ...     again = analyse_distributed(shipped, Tolerances(households_norm=(200, 300)))
    >>> once.summary == analyse(w).summary, again.summary["norm"]
    (True, [200, 300])
    """
    from distributed import Client, LocalCluster

    tol = tol or Tolerances()
    halo = 2 * catchment.max_reach if catchment is not None else 0.0
    if isinstance(data, ShippedLayout) and client is None:
        client = data.future.client
    own_client = client is None
    cluster = None
    if own_client:
        if scheduler:
            client = Client(scheduler)
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=40)
            client = Client(cluster)
    try:
        shipped = data if isinstance(data, ShippedLayout) else ship_layout(client, data, keep_geometries=False)
        if not shipped.street_codes:  # nothing to shard by: one task with everything
            parts = [client.submit(run_group, shipped.key, [], tol, catchment, halo,
                                   pure=False).result()]
        else:
            slots = max(1, sum(client.nthreads().values()))
            groups = street_groups(shipped.weights, tasks_per_worker * slots)
            futures = [client.submit(run_group, shipped.key, g, tol, catchment, halo, pure=False)
                       for g in groups]
            parts = client.gather(futures)
            del futures
        grids = shipped.grids
        if shipped is not data:  # shipped for this analysis only
            shipped.drop()
    finally:
        if own_client:
            client.close()
            if cluster is not None:
                cluster.close()
    return merge(parts, grids, tol, catchment=catchment)

"""The coverage analysis on Dask: the layout shipped once, each worker cuts its own shards.

The client packs the layout into plain arrays (:func:`pack_layout`: coordinates and offsets, or WKB
where the geometry is not simple; attribute columns as they are) and scatters it **once** to every
worker. Each task names a group of streets; the worker builds (once per layout, cached) the
:class:`geo.shards.ShardPlan` from bounds and the small frames, selects the owned rows and halo of
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

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geo.coverage import CoverageResult, LayoutData, Partial, Tolerances, analyse_shard, merge, owned_of
from geo.shards import ShardPlan, shard_meta, street_table

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
        """Pack geometries as the cheapest of the three layouts that holds them."""
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
    #: each street's share of the work (:func:`street_work`)
    weights: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))

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
            building_owned=owned_of(blds), report_xy=packed.geoms["reports"].bounds()[:, :2],
            report_owned=owned_of(reps))
        prep = _Prepared(packed, plan, comms, grids, fac, shard_meta(packed.meta, comms, fac, ""))
        if packed.keep_geometries:
            prep.kept = {k: packed.geoms[k].take(np.arange(packed.geoms[k].n)) for k in ("buildings", "reports")}
        prep.weights = street_work(packed, plan, comms, grids)
        _PREPARED[key] = prep
        while len(_PREPARED) > 2:
            _PREPARED.popitem(last=False)
        return prep


def _on_worker(key: str) -> _Prepared:
    """The prepared layout ``key`` on this worker: kept from an earlier task, else from the worker's
    memory (the broadcast copy), else fetched from the cluster, where :func:`ship_layout` published it
    under its key (a replica the scheduler's memory manager dropped, a worker that joined later).
    """
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


def _vertices(geoms: PackedGeoms, built: NDArray[np.object_] | None = None) -> NDArray[np.float64]:
    """Coordinates per geometry, from the offsets when packed as rings (nothing built)."""
    if geoms.kind == "polygon":
        return np.diff(geoms.offsets).astype(float)
    if geoms.kind == "point":
        return np.ones(geoms.n)
    if built is None:
        built = geoms.take(np.arange(geoms.n))
    return shapely.get_num_coordinates(built).astype(float)


def street_work(packed: PackedLayout, plan: ShardPlan, communities: pd.DataFrame,
                grids: pd.DataFrame) -> NDArray[np.float64]:
    """Each street's share of the work: the vertices of the rows it owns (buildings, grids,
    communities; a report counts as one). The analysis is geometry work (tree queries, overlays,
    point-in-polygon), whose cost follows the vertices, not the row counts: a street of big
    irregular footprints weighs more than one of as many boxes, so the groups balance on this.

    >>> from geo.synthetic import make_world
    >>> p = pack_layout(make_world(streets=2, per_grid=4))
    >>> w = prepare(p, "doctest-work").weights
    >>> len(w), bool((w > 0).all())
    (2, True)
    """
    n = len(packed.streets)
    out = np.zeros(n)
    parts = {"buildings": _vertices(packed.geoms["buildings"]), "reports": np.ones(packed.geoms["reports"].n),
             "grids": shapely.get_num_coordinates(np.asarray(grids["geometry"], dtype=object)).astype(float),
             "communities": shapely.get_num_coordinates(
                 np.asarray(communities["geometry"], dtype=object)).astype(float)}
    for k, v in parts.items():
        owner = plan.owner[k]
        mine = owner >= 0
        if mine.any():
            out += np.bincount(owner[mine], weights=v[mine], minlength=n)[:n]
    return out


@dataclass
class CompactPartial:
    """A :class:`geo.coverage.Partial` as shipped back from a worker: the per-grid counts as a
    position array into the layout's (code-sorted) grids and an int64 matrix, not a frame of codes,
    so that the client adds the shards up with one ``np.add.at``; plus what the task cost.
    """

    grid_pos: NDArray[np.int64]
    counts: NDArray[np.int64]  # len(grid_pos) × len(COUNT_COLUMNS)
    partial: Partial  # the rest (findings, facility kinds, report periods, slivers, catchment); grid_counts empty
    wall_s: float = 0.0
    cpu_s: float = 0.0  # CPU time of the task's thread: below wall_s when the worker waited for a core
    worker: str = ""


COUNT_COLUMNS = ("buildings", "households", "population", "facilities", "reports", "cases", "cases_open")


def compact(part: Partial, grid_codes: NDArray[np.object_]) -> CompactPartial:
    """``part`` with its grid counts as positions in ``grid_codes`` (sorted, unique) and a matrix.

    >>> codes = np.array(["a", "b", "c"], dtype=object)
    >>> gc = pd.DataFrame({"code": ["c", "a"], **{k: [1, 2] for k in COUNT_COLUMNS}})
    >>> c = compact(Partial([], gc, pd.DataFrame(), pd.DataFrame(), {}), codes)
    >>> c.grid_pos.tolist(), c.counts[:, 0].tolist()
    ([2, 0], [1, 2])
    """
    gc = part.grid_counts
    pos = np.searchsorted(grid_codes, gc["code"].to_numpy(dtype=object)).astype(np.int64)
    if len(pos) and not (grid_codes[np.minimum(pos, len(grid_codes) - 1)] == gc["code"].to_numpy(dtype=object)).all():
        raise ValueError("a shard counted a grid the layout does not have")
    counts = gc[list(COUNT_COLUMNS)].to_numpy(dtype=np.int64)
    rest = Partial(part.findings, gc.iloc[:0], part.facility_kinds, part.report_periods, part.slivers,
                   part.catchment)
    return CompactPartial(pos, counts, rest)


def combine(parts: list[CompactPartial], grid_codes: NDArray[np.object_]) -> Partial:
    """The compact partials of all shards added up into one :class:`geo.coverage.Partial` (counts
    summed vectorised; the rest concatenated), so that :func:`geo.coverage.merge` sees one shard. Sums
    and concatenations do not depend on how the layout was cut: the answer is the one of any cut.
    """
    total = np.zeros((len(grid_codes), len(COUNT_COLUMNS)), dtype=np.int64)
    seen = np.zeros(len(grid_codes), dtype=bool)
    for p in parts:
        np.add.at(total, p.grid_pos, p.counts)
        seen[p.grid_pos] = True
    counts = pd.DataFrame(total[seen], columns=list(COUNT_COLUMNS))
    counts.insert(0, "code", grid_codes[seen])
    rest = [p.partial for p in parts]

    def cat(frames: list[pd.DataFrame | None]) -> pd.DataFrame | None:
        frames = [f for f in frames if f is not None]
        if not frames:
            return None
        non_empty = [f for f in frames if len(f)]
        return pd.concat(non_empty, ignore_index=True) if non_empty else frames[0]

    slivers: dict[str, list[float]] = {}
    for p in rest:
        for k, v in p.slivers.items():
            slivers.setdefault(k, []).extend(v)
    return Partial([f for p in rest for f in p.findings], counts, cat([p.facility_kinds for p in rest]),
                   cat([p.report_periods for p in rest]), slivers, cat([p.catchment for p in rest]))


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


def run_compact(key: str, group: list[int], tol: Tolerances, catchment: Any = None,
                halo_m: float = 0.0) -> CompactPartial:
    """The task :func:`analyse_distributed` sends: :func:`run_group`, its result compacted
    (:func:`compact`) and timed (wall and CPU time of the thread, to tell starved workers from work).
    """
    t, c = time.perf_counter(), time.thread_time()
    prep = _on_worker(key)
    out = compact(run_group(key, group, tol, catchment, halo_m), prep.grids["code"].to_numpy(dtype=object))
    out.wall_s, out.cpu_s = time.perf_counter() - t, time.thread_time() - c
    try:
        from distributed import get_worker

        out.worker = get_worker().address
    except ValueError:  # not on a worker
        out.worker = f"pid {os.getpid()}"
    return out


# ----------------------------------------------------------------------------------------------
# On the client


def street_groups(weights: NDArray[np.float64], n: int) -> list[list[int]]:
    """Streets (in code order, neighbours mostly, so that the halos stay small) cut into about ``n``
    contiguous runs of similar weight, heaviest first. Each cut lies at the street boundary nearest
    to its share of the total (not the first one past it), so equal streets split evenly.

    >>> street_groups(np.array([1.0, 1, 1, 1, 5]), 2)
    [[4], [0, 1, 2, 3]]
    >>> [len(g) for g in street_groups(np.full(40, 1.0) + np.linspace(0, 0.01, 40), 2)]
    [20, 20]
    """
    w = np.maximum(np.asarray(weights, dtype=float), 1e-9)
    if len(w) == 0:
        return []
    n = max(1, min(n, len(w)))
    if n == 1:
        return [list(range(len(w)))]
    prefix = np.concatenate([[0.0], np.cumsum(w)])  # prefix[b]: weight of the streets before b
    target = prefix[-1] * np.arange(1, n) / n
    b = np.clip(np.searchsorted(prefix, target), 1, len(w))
    b = np.where(np.abs(prefix[b - 1] - target) < np.abs(prefix[b] - target), b - 1, b)
    cut = np.unique(np.clip(b, 1, len(w) - 1))
    groups = [g.tolist() for g in np.split(np.arange(len(w)), cut) if len(g)]
    return sorted(groups, key=lambda g: -w[g].sum())


def _weights(data: LayoutData, streets: pd.DataFrame) -> NDArray[np.float64]:
    """A street's share of the work, roughly, when no worker said better (:func:`street_work`): its grids."""
    st = dict(zip(data.communities["code"], data.communities["street_code"], strict=True))
    counts = data.grids["community_code"].map(st).value_counts()
    return counts.reindex(streets["code"]).fillna(0).to_numpy(dtype=float) + 1.0


def _prepare_here(key: str, dask_worker: Any = None) -> NDArray[np.float64] | None:
    """Run on every worker by :func:`ship_layout`: build the plan while the layout is being shipped;
    the street weights (:func:`street_work`) go back to the client.
    """
    try:
        return prepare(dask_worker.data[key], key).weights
    except KeyError:  # the replica is already gone: the first task fetches it
        return None


def _forget(key: str) -> None:
    with _LOCK:
        _PREPARED.pop(key, None)


@dataclass
class ShippedLayout:
    """A layout packed and held by every worker of a cluster (:func:`ship_layout`), with what the client
    needs to analyse it: the street table (codes), each street's weight and the grids (for the merge).
    Analyse it as often as needed (other tolerances, catchments): each time only tasks go out.
    """

    future: Any  # distributed.Future of the PackedLayout
    street_codes: list[str]
    weights: NDArray[np.float64]
    grids: pd.DataFrame

    @property
    def grid_codes(self) -> NDArray[np.object_]:
        """The grid codes in the order the workers hold them (sorted), for :func:`combine`."""
        return _sorted(self.grids)["code"].to_numpy(dtype=object)

    @property
    def key(self) -> str:
        """The Dask key of the shard's future."""
        return str(self.future.key)

    def drop(self) -> None:
        """Free the layout on the cluster (the workers' plans too)."""
        client = self.future.client
        client.unpublish_dataset(self.key)
        client.run(_forget, self.key)
        self.future.release()


def ship_layout(client: Any, data: LayoutData, *, keep_geometries: bool = True,
                workers: list[str] | None = None) -> ShippedLayout:
    """Pack the layout, scatter it once to every worker (directly, not through the scheduler; only to
    ``workers`` when given) and let each worker build its :class:`geo.shards.ShardPlan` now rather
    than at its first task, and (with ``keep_geometries``) every footprint, so that each analysis of
    it only cuts and analyses. The workers also weigh the streets (:func:`street_work`).
    """
    packed = pack_layout(data)
    packed.keep_geometries = keep_geometries
    future = client.scatter(packed, broadcast=True, hash=False, direct=True, workers=workers)
    client.publish_dataset(**{str(future.key): future})
    weights = None
    if len(packed.streets):
        done = [w for w in client.run(_prepare_here, future.key, workers=workers).values() if w is not None]
        weights = done[0] if done else None
    if weights is None:
        weights = _weights(data, packed.streets)
    return ShippedLayout(future, list(packed.streets["code"]), weights, data.grids)


def analyse_distributed(
    data: LayoutData | ShippedLayout,
    tol: Tolerances | None = None,
    *,
    scheduler: str | None = None,
    workers: int = 2,
    catchment: Any = None,
    client: Any = None,
    tasks_per_worker: int = 1,
    on: list[str] | None = None,
    stats: dict[str, Any] | None = None,
) -> CoverageResult:
    """Analyse a layout on Dask.

    ``data``: a layout in memory (shipped for this analysis, then dropped) or a
    :class:`ShippedLayout` already on the cluster (its own client is used). ``client``: an existing
    ``distributed.Client`` (kept open); ``scheduler``: the address of a running scheduler; neither: a
    LocalCluster of ``workers`` processes, started and stopped here. ``on``: run on these workers only
    (addresses; default all).

    The streets are cut into ``tasks_per_worker`` groups per worker thread, contiguous runs of equal
    work (:func:`street_groups` on :func:`street_work`): every task has a fixed cost (cut the shard,
    sort, build its trees) and the slowest task bounds the wall time, so one balanced task per
    worker is the fastest on a quiet machine; 2 lets the scheduler even out a worker slowed by
    others. Each task returns a :class:`CompactPartial`; the client adds them up (:func:`combine`)
    and finishes with the very same :func:`geo.coverage.merge` as the single-machine path.

    ``stats``: filled with what it cost: ``tasks`` (per task: worker, streets, wall_s, cpu_s),
    ``compute_s`` (submit to last result), ``merge_s`` (client) and ``wall_s``.

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

    t_start = time.perf_counter()
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
        shipped = (data if isinstance(data, ShippedLayout)
                   else ship_layout(client, data, keep_geometries=False, workers=on))
        t_submit = time.perf_counter()
        if not shipped.street_codes:  # nothing to shard by: one task with everything
            groups: list[list[int]] = [[]]
        else:
            nthreads = client.nthreads()
            slots = max(1, sum(v for k, v in nthreads.items() if on is None or k in on))
            groups = street_groups(shipped.weights, max(1, tasks_per_worker) * slots)
        futures = [client.submit(run_compact, shipped.key, g, tol, catchment, halo, pure=False, workers=on,
                                 allow_other_workers=False) for g in groups]
        parts = client.gather(futures)
        del futures
        t_gathered = time.perf_counter()
        grids, codes = shipped.grids, shipped.grid_codes
        if shipped is not data:  # shipped for this analysis only
            shipped.drop()
    finally:
        if own_client:
            client.close()
            if cluster is not None:
                cluster.close()
    t_merge = time.perf_counter()
    out = merge([combine(parts, codes)], grids, tol, catchment=catchment)
    if stats is not None:
        end = time.perf_counter()
        stats.update(tasks=[{"worker": p.worker, "streets": len(g), "wall_s": p.wall_s, "cpu_s": p.cpu_s}
                            for p, g in zip(parts, groups, strict=True)],
                     compute_s=t_gathered - t_submit, merge_s=end - t_merge, wall_s=end - t_start)
    return out

"""The coverage analysis on Dask: one task per street shard, the same geo/ functions, the same answer.

:func:`geo.coverage.split_shards` cuts the layout by street, giving each shard the halo its rows need;
each shard runs :func:`geo.coverage.analyse_shard` on a worker process, and
:func:`geo.coverage.merge` adds the partial results up on the client. Every per-row answer depends only
on the row and its neighbours, never on what else is in the shard, so the result is identical to
:func:`geo.coverage.analyse` (tested in tests/geo/test_cluster.py).

By default a ``distributed.LocalCluster`` of worker processes (one thread each: shapely releases the
GIL only in parts, processes scale) is started and stopped; ``scheduler`` names a running cluster.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from geo.coverage import CoverageResult, LayoutData, Tolerances, analyse_shard, merge, split_shards

_FRAMES = ("communities", "grids", "buildings", "facilities", "reports", "streets")


def pack(shard: LayoutData) -> LayoutData:
    """Geometries as WKB bytes: pickling shapely objects one by one is ten times slower than this."""
    out = LayoutData(**{k: getattr(shard, k) for k in (*_FRAMES, "meta")})
    for k in _FRAMES:
        df = getattr(shard, k)
        if df is not None and "geometry" in df.columns:
            df = df.copy()
            df["geometry"] = shapely.to_wkb(np.asarray(df["geometry"], dtype=object))
            setattr(out, k, df)
    return out


def unpack(shard: LayoutData) -> LayoutData:
    for k in _FRAMES:
        df = getattr(shard, k)
        if df is not None and "geometry" in df.columns:
            df["geometry"] = shapely.from_wkb(np.asarray(df["geometry"], dtype=object))
    return shard


def run_packed(shard: LayoutData, tol: Tolerances, catchment: Any = None):  # noqa: ANN201 - a Partial
    """What a worker runs: unpack, then the very same :func:`geo.coverage.analyse_shard`."""
    return analyse_shard(unpack(shard), tol, catchment=catchment)


def analyse_distributed(
    data: LayoutData,
    tol: Tolerances | None = None,
    *,
    scheduler: str | None = None,
    workers: int = 2,
    catchment: Any = None,
    client: Any = None,
) -> CoverageResult:
    """Analyse a layout on Dask. ``client``: an existing ``distributed.Client`` (kept open);
    ``scheduler``: the address of a running scheduler; neither: a LocalCluster of ``workers`` processes."""
    from distributed import Client, LocalCluster

    tol = tol or Tolerances()
    halo = 2 * catchment.max_reach if catchment is not None else 0.0
    shards = split_shards(data, halo_m=halo)
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
        # biggest shards first, so that the last task to finish is a small one
        shards.sort(key=lambda s: -(len(s.buildings) + 20 * len(s.grids)))
        scattered = client.scatter([pack(s) for s in shards])  # to the workers once, not in the task graph
        futures = client.map(run_packed, scattered, tol=tol, catchment=catchment, pure=False)
        parts = client.gather(futures)
    finally:
        if own_client:
            client.close()
            if cluster is not None:
                cluster.close()
    return merge(parts, data.grids, tol, catchment=catchment)

"""``gridmap coverage``: analyse a layout, print the findings, write the HTML report and the workload CSV."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err = Console(stderr=True)


def coverage(
    layout: Annotated[int | None, typer.Option(help="layout id (default: the layout in force now)")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="write a self-contained HTML report (no network)")]
    = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="write the workload per grid as CSV")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write summary + findings GeoJSON")] = None,
    min_area_m2: Annotated[float, typer.Option(help="gaps/overlaps below this are slivers (m²)")] = 1.0,
    scheduler: Annotated[str | None, typer.Option(
        help="run the shards on Dask: 'local' (a LocalCluster of worker processes) or a scheduler address")]
    = None,
    workers: Annotated[int, typer.Option(help="worker processes of the local Dask cluster")] = 2,
    walk: Annotated[bool, typer.Option(help="HTML report: add the 15-minute walk isochrones along the roads")] = False,
) -> None:
    """Coverage analysis of a layout: gaps, overlaps, boundaries, buildings, workload, grid codes (覆盖分析)."""
    import orjson

    from api.core.config import get_settings
    from api.core.db import make_engine, make_sessionmaker
    from api.core.errors import GridmapError
    from api.coverage import service
    from api.grids.service import resolve_layout
    from geo.coverage import Tolerances

    settings = get_settings()
    engine = make_engine(settings, pool_size=1)
    tol = Tolerances(min_area_m2=min_area_m2,
                     households_norm=(settings.households_norm_min, settings.households_norm_max))
    try:
        with make_sessionmaker(engine)() as s:
            t0 = time.perf_counter()
            with console.status("fetching the layout…"):
                lid = resolve_layout(s, layout_id=layout)
                row = service.layout_row(s, lid)
                data = service.load_layout(s, layout_id=lid, win=service.window(None, None))
            t1 = time.perf_counter()
            with console.status("analysing…"):
                if scheduler:
                    from geo.cluster import analyse_distributed

                    res = analyse_distributed(data, tol, scheduler=None if scheduler == "local" else scheduler,
                                              workers=workers)
                else:
                    res = service.run(data, tol)
            t2 = time.perf_counter()
            walked = None
            if html and walk:  # issue 20: per facility kind, along the roads (api/roads/service.py)
                from api.roads.service import walk as walk_catchments
                from geo.network import WalkParams

                with console.status("walking the roads…"):
                    walked = walk_catchments(s, layout_id=lid, params=WalkParams(), kinds=None, community=None,
                                             grids=None, min_share=0.5, isochrones=True)
    except GridmapError as exc:
        err.print(f"[bold red]error:[/] {exc.detail}")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    sm = res.summary
    console.print(f"layout {lid} [bold]{row['name']}[/] ({row['status']}): {sm['grids']} grids, "
                  f"{len(data.buildings):,} buildings; fetched in {t1 - t0:.1f} s, analysed in {t2 - t1:.1f} s")
    table = Table("#", "kind", "codes", "community", "area m²")
    for k, r in enumerate(res.findings.drop(columns="geometry").to_dict("records"), start=1):
        table.add_row(str(k), r["kind"], ", ".join(r["codes"]), r["community_code"] or "",
                      "" if r["area_m2"] is None or r["area_m2"] != r["area_m2"] else f"{r['area_m2']:,.1f}")
    console.print(table)
    bal = sm["balance"]
    console.print(f"findings: {sm['findings']} · slivers ignored: "
                  f"{sum(v['count'] for v in sm['slivers'].values())} · balance CV {bal['cv']} (Gini {bal['gini']}) · "
                  f"within norm {sm['within_norm']}/{sm['grids']}")
    if csv:
        csv.write_text(service.workload_csv(res), encoding="utf-8")
        console.print(f"[green]wrote {csv}[/]")
    if json_out:
        json_out.write_bytes(orjson.dumps(service.coverage_body(row, res), option=orjson.OPT_NON_STR_KEYS))
        console.print(f"[green]wrote {json_out}[/]")
    if html:
        from api.coverage.report import build_report

        stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %z")
        page = build_report(res, layout=row, communities=data.communities[data.communities.owned],
                            grids=data.grids, generated_at=stamp, walk=walked)
        html.write_text(page, encoding="utf-8")
        console.print(f"[green]wrote {html} ({len(page) / 1e6:.1f} MB)[/]")

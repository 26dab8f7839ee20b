"""Benchmarks behind ``make bench``. Each measure is taken against a baseline in the same run, on the
same data, interleaved, so that a noisy shared machine moves both alike; results go to
bench/results.json with the machine, versions and the command.

    python -m bench.run [--repeat N] [--only NAME]
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from api.core.config import get_settings
from bench import addresses, coverage, evaluation, multiscale, network, outbox, planner, proposals, routing, tipg, wall
from bench.common import bench_database, interleaved, machine

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"


def grids_geojson(url: str, repeat: int) -> dict:
    """The grid layer as GeoJSON: assembled in PostGIS (ours) vs read into geopandas and serialised."""
    import geopandas as gpd
    from fastapi.testclient import TestClient

    from api.auth.deps import get_principal
    from api.auth.service import Principal
    from api.main import create_app

    os.environ["GRIDMAP_DATABASE_URL"] = url
    get_settings.cache_clear()
    app = create_app(get_settings())
    app.dependency_overrides[get_principal] = lambda: Principal(0, "bench", "dispatcher")
    with TestClient(app) as client:
        engine = app.state.engine
        lid = client.get("/api/v1/layouts").json()["items"][0]["id"]

        def ours() -> None:
            r = client.get(f"/api/v1/grids?layout={lid}&limit=10000")
            assert r.status_code == 200

        def baseline() -> None:
            with engine.connect() as conn:
                gdf = gpd.read_postgis(text(
                    "SELECT code, name, name_en, community_code, households, population, boundary FROM grid "
                    "WHERE layout_id = :l ORDER BY code"), conn, geom_col="boundary", params={"l": lid})
            gdf.to_json()

        t_ours, t_base = interleaved(ours, baseline, repeat)
        n = client.get(f"/api/v1/grids?layout={lid}&limit=1").json()["numberMatched"]
    return {"name": "grids_geojson_layer", "value": round(t_ours * 1000, 2), "unit": "ms",
            "baseline": round(t_base * 1000, 2), "baseline_name": "geopandas.read_postgis + to_json",
            "ratio": round(t_base / t_ours, 2), "n": n,
            "note": f"all {n} grids of the sample layout as one FeatureCollection (HTTP in-process); median"}


def buildings_import(url: str, repeat: int) -> dict:
    """Importing the sample's buildings: our COPY path vs geopandas.to_postgis, rows per second."""
    import pyogrio

    from api.core.db import make_engine
    from api.imports.sample import ARTEFACT
    from api.imports.service import import_layer

    engine = make_engine(get_settings(), url=url, pool_size=2)
    gdf = pyogrio.read_dataframe(ARTEFACT, layer="buildings")

    def ours() -> None:
        with engine.connect() as conn:
            from sqlalchemy.orm import Session

            with Session(bind=conn) as s:
                s.execute(text("DELETE FROM building"))
                import_layer(s, layer="buildings", path=ARTEFACT, source_layer="buildings")
                s.rollback()

    def baseline() -> None:
        with engine.connect() as conn:
            trans = conn.begin()
            gdf.rename_geometry("footprint").to_postgis("building_baseline", conn, if_exists="replace",
                                                        index=False, chunksize=5000)
            trans.rollback()

    t_ours, t_base = interleaved(ours, baseline, repeat)
    engine.dispose()
    n = len(gdf)
    return {"name": "buildings_import", "value": round(n / t_ours), "unit": "rows/s",
            "baseline": round(n / t_base), "baseline_name": "GeoDataFrame.to_postgis (chunksize 5000)",
            "ratio": round(t_base / t_ours, 2), "n": n,
            "note": "read + validate/repair + COPY + INSERT, one transaction (rolled back); the baseline only writes"}


BENCHES = {"grids_geojson_layer": grids_geojson, "buildings_import": buildings_import}
BENCHES.update({"batch_routing": routing.batch_routing, "batch_routing_large": routing.batch_routing_large,
                "http_locate": routing.http_locate, "http_intake": routing.http_intake,
                "bulk_import": routing.bulk_import})

BENCHES.update(coverage.BENCHES)
BENCHES.update(wall.BENCHES)
BENCHES.update(addresses.BENCHES)  # issue 10
BENCHES.update(planner.BENCHES)  # issue 8
BENCHES.update(proposals.BENCHES)  # issue 20
BENCHES.update(multiscale.BENCHES)  # issue 21
BENCHES.update(network.BENCHES)  # issue 20: network catchments
BENCHES.update(tipg.BENCHES)  # issue 23: /ogc beside tipg
BENCHES.update(outbox.BENCHES)  # issue 19: webhooks
BENCHES.update(evaluation.BENCHES)  # issue 19

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--only", choices=sorted(BENCHES))
    args = parser.parse_args()
    url = bench_database()
    measures = []
    for name, fn in BENCHES.items():
        if args.only and name != args.only:
            continue
        print(f"bench {name} …", flush=True)
        found = fn(url, args.repeat)
        for m in found if isinstance(found, list) else [found]:
            m.setdefault("command", f"make bench  (python -m bench.run --only {name})")
            m["machine"] = f"{os.cpu_count()} cores"
            print(f"  {m['name']}: {m['value']} {m['unit']} vs baseline {m['baseline']} {m['unit']}"
                  f" → ratio {m['ratio']}")
            measures.append(m)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    by_name = {m["name"]: m for m in previous.get("measures", [])}
    by_name.update({m["name"]: m for m in measures})
    RESULTS.write_text(json.dumps({"generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                                   "machine": machine(), "measures": list(by_name.values())},
                                  indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

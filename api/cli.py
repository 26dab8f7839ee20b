"""The ``gridmap`` command line: database set-up, the sample district, keys, import and export."""

from __future__ import annotations

import os
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import text

from api.auth.roles import ROLES
from api.core.config import get_settings
from api.core.db import make_engine, make_sessionmaker, session_scope
from api.core.errors import GridmapError
from api.coverage.cli import coverage as coverage_cmd
from api.ops.backup import say_target
from api.users.cli import users_app
from api.webhooks.cli import webhooks_app

app = typer.Typer(help="gridmap: grid-based community governance (网格化基层治理).", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
sample_app = typer.Typer(help="The sample district in sample_data/.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(sample_app, name="sample")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")  # issue 6
app.add_typer(webhooks_app, name="webhooks")  # issue 19

console = Console()
err = Console(stderr=True)


class Layer(StrEnum):
    streets = "streets"
    communities = "communities"
    grids = "grids"
    buildings = "buildings"
    facilities = "facilities"
    roads = "roads"
    reports = "reports"
    addresses = "addresses"


def _sessions(*, writes: bool = True):
    """An engine and session factory on the configured database. A command that writes first says which database
    it writes to (host, port, name) on stderr: a second local cluster on another port is easy to hit by mistake."""
    settings = get_settings()
    if writes:
        say_target(settings.database_url)
    engine = make_engine(settings, pool_size=2)
    return engine, make_sessionmaker(engine)


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the Alembic migrations (the only way the schema is created)."""
    from alembic import command
    from alembic.config import Config

    from api.core.config import ROOT

    say_target(get_settings().database_url)
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    try:
        command.upgrade(cfg, revision)
    except Exception as exc:  # report any connection/migration failure plainly
        _fail(f"migration failed: {exc}")
    console.print(f"[green]schema at {revision}[/]")


@sample_app.command("load")
def sample_load(
    if_empty: Annotated[bool, typer.Option("--if-empty", help="do nothing when the database has data")] = False,
) -> None:
    """Load the sample district (Dongcheng, Beijing): streets, communities, grids, buildings, reports…"""
    from api.imports.sample import is_empty, load_sample

    engine, factory = _sessions()
    with factory() as s:
        empty = is_empty(s)
    if not empty:
        if if_empty:
            console.print("sample: database already has data; not loading")
            return
        _fail("the database already has data; load the sample into an empty database")
    t0 = time.perf_counter()
    with console.status("loading the sample district…"):
        with session_scope(factory) as s:
            load_sample(s, say=lambda m: console.print(f"  {m}"))
    console.print(f"[green]sample district loaded in {time.perf_counter() - t0:.1f} s[/]")
    engine.dispose()


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="who or what uses the key")],
    role: Annotated[str, typer.Option(help=f"one of {', '.join(ROLES)}")],
) -> None:
    """Create an API key and print it (only its hash is stored)."""
    from api.auth.service import create_key

    engine, factory = _sessions()
    try:
        with session_scope(factory) as s:
            key, raw = create_key(s, name=name, role=role)
    except GridmapError as exc:
        _fail(exc.detail)
    console.print(f"key {key.id} ({key.role}): {raw}")


@keys_app.command("list")
def keys_list() -> None:
    from api.auth.service import list_keys

    engine, factory = _sessions(writes=False)
    with factory() as s:
        table = Table("id", "name", "role", "prefix", "created", "revoked")
        for k in list_keys(s):
            table.add_row(str(k.id), k.name, k.role, k.prefix + "…", f"{k.created_at:%Y-%m-%d %H:%M}",
                          f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: int) -> None:
    from api.auth.service import revoke_key

    engine, factory = _sessions()
    try:
        with session_scope(factory) as s:
            revoke_key(s, key_id=key_id)
    except GridmapError as exc:
        _fail(exc.detail)
    console.print(f"key {key_id} revoked")


@keys_app.command("ensure-local")
def keys_ensure_local() -> None:
    """On first start, create the ``admin`` user (its generated password in .data/admin-password, 0600) and an
    admin key for scripts (.data/admin-api-key, 0600). People sign in with a name and password; keys are for
    systems; an unattended wall screen is paired on /admin.html with a one-time code, so no credential is ever
    printed in a link (issue 18: a URL is shared, logged and kept in browser history).

    A key file whose key the database does not know (a database recreated, DATABASE_URL changed) is replaced.
    The ``commander`` key of earlier versions became a ``dispatcher`` key (migration 0014), which can move
    cases, and the ``viewer-api-key`` of the first role-table version sat in a wall link: both are revoked here
    and their files removed. The admin password is never reset once a person has changed it.
    """
    from api.auth.service import create_key, revoke_key, verify_key
    from api.users.seed import ensure_admin

    settings = get_settings()
    data = settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    engine, factory = _sessions()
    files = {"admin": data / "admin-api-key"}
    password_path = data / "admin-password"
    with session_scope(factory) as s:
        for old in (data / "commander-api-key", data / "viewer-api-key"):  # keys that sat in map links
            if old.exists():
                principal = verify_key(s, raw=old.read_text().strip())
                if principal is not None:
                    revoke_key(s, key_id=principal.key_id)
                old.unlink()
                console.print(f"revoked the wall-link key of {old}: a wall screen is now paired on /admin.html")
        for role, path in files.items():
            if path.exists() and verify_key(s, raw=path.read_text().strip()) is not None:
                continue
            _, raw = create_key(s, name=f"local {role} (make run)", role=role)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(raw + "\n")
            console.print(f"created the {role} API key: {path} (mode 0600)")
        admin = ensure_admin(s, path=password_path)
    if admin == "created":
        console.print(f"created the user [bold]admin[/]; its password is in {password_path} (mode 0600)")
    elif admin == "changed":
        console.print(f"[yellow]the user admin exists and its password is no longer the one in {password_path}[/]")
    console.print(f"admin API key (for scripts): {files['admin']}")
    base = f"http://{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
    # Plain print: a terminal must be able to copy the whole link, so no wrapping.
    print(f"sign in at {base}/ as admin with the password in {password_path} "
          "(demo users of every role: sample_data/README.md)")
    print(f"a map-wall screen: on {base}/admin.html make a pairing code, then type it on the wall's {base}/")


@app.command("import")
def import_cmd(
    layer: Annotated[Layer, typer.Argument(help="what the file holds")],
    file: Annotated[Path, typer.Argument(help="GeoJSON, GeoPackage or zipped Shapefile")],
    source_layer: Annotated[str | None, typer.Option("--source-layer", help="layer inside a GeoPackage")] = None,
    code_field: Annotated[str | None, typer.Option(help="field holding the code (default 'code')")] = None,
    name_field: Annotated[str | None, typer.Option(help="field holding the name (default 'name')")] = None,
    crs: Annotated[str | None, typer.Option(
        help="wgs84, cgcs2000, gcj02, bd09 or EPSG:nnnn; overrides the file's own CRS")] = None,
    layout: Annotated[str | None, typer.Option(
        help="grids: id of a draft layout, or a name for a new draft")] = None,
    code_prefix: Annotated[str | None, typer.Option(
        help="grids: 12-digit community code to number code-less polygons west→east, north→south")] = None,
    kind: Annotated[str | None, typer.Option(
        help="facilities: kind for rows without one; reports: source for rows without one")] = None,
    replace: Annotated[bool, typer.Option(help="update rows whose code exists instead of failing")] = False,
    explode: Annotated[bool, typer.Option(help="buildings: split multi-part footprints into buildings")] = False,
) -> None:
    """Import a file into one layer, in one transaction: it lands whole or not at all.

    `reports` takes a CSV (lon, lat, source, external_id, category_code, reported_at, [status, closed_at,
    rating, description]) or a file of points, and routes each report against the layout in force at its time.
    """
    from api.imports.service import import_layer

    engine, factory = _sessions()
    t0 = time.perf_counter()
    if layer is Layer.addresses:  # issue 10: the standard address registry (api/addresses/service.py)
        from api.addresses.service import import_addresses

        try:
            with session_scope(factory) as s:
                res = import_addresses(s, path=file, source_layer=source_layer, crs=crs, replace=replace)
        except GridmapError as exc:
            _fail(f"{file}: {exc.detail}\nnothing was imported.", code=2)
        console.print(f"[green]imported {res['rows_imported']} new and updated {res['rows_updated']} addresses[/]")
        engine.dispose()
        return
    if layer is Layer.reports:
        _import_reports(factory, file, source_layer=source_layer, crs=crs, kind=kind)
        console.print(f"[green]done in {time.perf_counter() - t0:.1f} s[/]")
        engine.dispose()
        return
    try:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task(f"importing {layer.value}", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            with session_scope(factory) as s:
                res = import_layer(
                    s, layer=layer.value, path=file, source_layer=source_layer, code_field=code_field,
                    name_field=name_field, crs=crs, layout=layout, code_prefix=code_prefix, kind=kind,
                    replace=replace, explode=explode, progress=progress,
                )
    except GridmapError as exc:
        _fail(f"{file}: {exc.detail}\nnothing was imported.", code=2)
    finally:
        engine.dispose()
    console.print(f"CRS assumed: [bold]{res.crs_assumed}[/] (from {res.crs_source})")
    for row, why in res.repaired:
        console.print(f"  row {row}: {why}")
    for note in res.notes:
        console.print(f"  {note}")
    extra = f" into draft layout {res.layout_id}" if res.layout_id else ""
    console.print(f"[green]imported {res.rows_imported} new and updated {res.rows_updated} {layer.value}{extra} "
                  f"from {res.rows_read} rows in {time.perf_counter() - t0:.1f} s; repaired {len(res.repaired)}[/]")


def _import_reports(factory, file: Path, *, source_layer: str | None, crs: str | None, kind: str | None) -> None:
    from api.core.pgload import resolve_prepared_imports
    from api.reports.bulk import import_reports
    from api.wall.heat import advance_hourly_horizon

    settings = get_settings()
    # A previous import that died between its two halves' commits left one prepared: settled first.
    for gid, what in resolve_prepared_imports(factory.kw["bind"]):
        console.print(f"  a previous import's prepared half was {what}: {gid}")
    # The hourly heat horizon brought up to date first, in its own transaction (as the API's due-work thread
    # does once a day), so that imported history before it writes day roll-ups only.
    with session_scope(factory) as s:
        advance_hourly_horizon(s, days=settings.heat_hourly_days)
    try:
        with console.status("importing reports…"), session_scope(factory) as s:
            # parallel: session_scope commits (or rolls back) as soon as the import returns
            res = import_reports(s, path=file, layer=source_layer, crs=crs, source=kind,
                                 tolerance_m=settings.routing_tolerance_m, tz=settings.timezone, parallel=True,
                                 say=lambda m: console.print(f"  {m}"))
    except GridmapError as exc:
        _fail(f"{file}: {exc.detail}\nnothing was imported.", code=2)
    console.print(f"CRS assumed: [bold]{res.crs_assumed}[/]")
    console.print(f"[green]imported {res.imported} reports ({res.routed} routed, {res.unrouted} unrouted, "
                  f"{res.skipped_existing} already there) and {res.events} case events[/]")


@app.command("export")
def export_cmd(
    layer: Annotated[Layer, typer.Argument()],
    file: Annotated[Path, typer.Argument(help=".geojson, .gpkg or .zip (zipped Shapefile)")],
    layout: Annotated[int | None, typer.Option(help="grids: layout id (default: the one in force)")] = None,
) -> None:
    """Export a layer to GeoJSON, GeoPackage or a zipped Shapefile (WGS84)."""
    from api.grids.service import resolve_layout
    from api.imports.service import export_layer

    engine, factory = _sessions(writes=False)
    try:
        with factory() as s:
            lid = resolve_layout(s, layout_id=layout) if layer is Layer.grids else None
            n = export_layer(s, layer=layer.value, path=file, layout_id=lid)
    except GridmapError as exc:
        _fail(exc.detail)
    finally:
        engine.dispose()
    console.print(f"[green]wrote {n} {layer.value} to {file}[/]")


@app.command("check")
def check() -> None:
    """Check that the database answers and PostGIS is there."""
    engine, factory = _sessions(writes=False)
    try:
        with factory() as s:
            console.print(s.execute(text("SELECT postgis_full_version()")).scalar_one())
    except Exception as exc:
        _fail(f"database not reachable: {exc}")


app.command("coverage")(coverage_cmd)


@app.command("backup")
def backup_cmd(file: Annotated[Path, typer.Argument(help="where to write the backup (pg_dump custom format)")]) -> None:
    """Back up the configured database (DATABASE_URL or the local cluster) with pg_dump."""
    from api.media.storage import make_storage
    from api.ops.backup import Target, backup

    url = get_settings().database_url
    console.print(f"backing up {Target.from_url(url).describe()} to {file} …")
    t = time.perf_counter()
    try:
        out = backup(url, file, storage=make_storage(get_settings()))
    except GridmapError as exc:
        _fail(exc.detail)
    console.print(f"[green]wrote {out['file']}: {out['bytes'] / 1e6:.1f} MB, {out['tables']} tables, "
                  f"{out['media']} photo files, {time.perf_counter() - t:.1f} s[/]")


@app.command("restore")
def restore_cmd(
    file: Annotated[Path, typer.Argument(help="a backup written by `gridmap backup`")],
    force: Annotated[bool, typer.Option("--force", help="replace the tables of a database that is not empty")] = False,
) -> None:
    """Restore a backup into the configured database, in one transaction (all or nothing)."""
    from api.media.storage import make_storage
    from api.ops.backup import RestoreRefused, Target, restore

    url = get_settings().database_url
    console.print(f"restoring {file} into {Target.from_url(url).describe()} …")
    t = time.perf_counter()
    try:
        out = restore(url, file, force=force, storage=make_storage(get_settings()))
    except RestoreRefused as exc:
        _fail(exc.detail, code=2)
    except GridmapError as exc:
        _fail(exc.detail)
    replaced = f", replacing {out['replaced']} tables" if out["replaced"] else ""
    console.print(f"[green]restored {out['tables']} tables and {out['media']} photo files into {out['database']}"
                  f"{replaced} in "
                  f"{time.perf_counter() - t:.1f} s[/]")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()

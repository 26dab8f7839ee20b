"""``gridmap backup`` / ``gridmap restore``: pg_dump / pg_restore of the configured database.

A backup is PostgreSQL's custom format (``pg_dump -Fc``: compressed, restorable table by table, readable by
any newer pg_restore). It is written to ``FILE.partial`` and renamed only when pg_dump succeeded, so a file
named FILE is always a whole backup. A restore runs in one transaction (``--single-transaction``): it either
lands completely or leaves the database as it was. It refuses to write over a database that already holds
gridmap tables unless told ``--force`` (then ``--clean --if-exists`` replaces them). The password, if the URL
has one, goes to the tools through ``PGPASSWORD``, never on a command line other users could read in ``ps``.

Photos (api/media) are not in the database: a backup also writes ``FILE.media.tar`` beside FILE, holding every
blob a ``media`` row names, read through the storage interface (so a directory or an S3 bucket alike), listed
*after* pg_dump's snapshot was taken (a superset of what the dump refers to: a photo's blobs are stored before
its row commits). A restore puts them back through the storage (content-addressed: a blob already there is
left as it is).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.core.config import sqlalchemy_url
from api.core.errors import GridmapError
from api.media.storage import Storage, content_type_of


class BackupFailed(GridmapError):
    status, code, title = 500, "backup_failed", "Backup or restore failed"


class RestoreRefused(GridmapError):
    status, code, title = 409, "restore_refused", "The target database is not empty"


@dataclass(frozen=True)
class Target:
    """libpq connection details of a SQLAlchemy URL."""

    dbname: str
    host: str | None
    port: int | None
    user: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> Target:
        u = make_url(sqlalchemy_url(url))
        host = u.host or u.query.get("host")
        return cls(dbname=u.database or "", host=str(host) if host else None, port=u.port, user=u.username,
                   password=u.password)

    def args(self) -> list[str]:
        out = ["--dbname", self.dbname]
        if self.host:
            out += ["--host", self.host]
        if self.port:
            out += ["--port", str(self.port)]
        if self.user:
            out += ["--username", self.user]
        return out + ["--no-password"]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def describe(self) -> str:
        return f"{self.dbname} on {self.host or 'localhost'}:{self.port or 5432}"


def pg_tool(name: str) -> str:
    """The newest installed ``pg_dump``/``pg_restore`` (Debian keeps each major version apart; a newer one can
    read and write older servers, an older one refuses newer servers)."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3])
                   if p.parts[-3].isdigit() else 0)
    if found:
        return str(found[-1])
    on_path = shutil.which(name)
    if on_path is None:
        raise BackupFailed(f"{name} not found: install postgresql-client (Debian: apt-get install postgresql-client)")
    return on_path


def _run(cmd: list[str], target: Target, what: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, env=target.env(), capture_output=True, text=True)
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip().splitlines()
        raise BackupFailed(f"{what} failed (exit {proc.returncode}): " + " / ".join(message[-5:]))
    return proc


def media_file(file: Path) -> Path:
    """Where the photos of the backup ``file`` go."""
    return file.with_name(file.name + ".media.tar")


def backup_media(url: str, file: Path, storage: Storage) -> int:
    """Every blob a ``media`` row names, into a tar beside the dump; returns how many."""
    engine = create_engine(sqlalchemy_url(url), pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            keys = sorted(set(conn.execute(text(
                "SELECT display_key FROM media UNION SELECT thumb_key FROM media")).scalars()))
    finally:
        engine.dispose()
    target = media_file(file)
    partial = target.with_name(target.name + ".partial")
    try:
        with tarfile.open(partial, "w") as tar:
            for key in keys:
                data = storage.get(key)
                info = tarfile.TarInfo(key)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return len(keys)


def restore_media(file: Path, storage: Storage) -> int:
    """Put the photos of the backup ``file`` back (none when it has no media tar); returns how many."""
    source = media_file(file)
    if not source.is_file():
        return 0
    count = 0
    with tarfile.open(source, "r") as tar:
        for member in tar:
            if not member.isfile() or member.name.startswith("/") or ".." in member.name.split("/"):
                continue  # only plain content-addressed keys
            fh = tar.extractfile(member)
            if fh is not None:
                storage.put(member.name, fh.read(), content_type_of(member.name))
                count += 1
    return count


def backup(url: str, file: Path, storage: Storage | None = None) -> dict:
    """Dump the database at ``url`` to ``file`` (and, given ``storage``, its photos beside it); returns what was
    written (bytes, tables, media blobs)."""
    target = Target.from_url(url)
    file = Path(file)
    if file.is_dir():
        raise BackupFailed(f"{file} is a directory; give a file name")
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(file.name + ".partial")
    try:
        _run([pg_tool("pg_dump"), "--format=custom", "--file", str(partial), *target.args()], target, "pg_dump")
        partial.replace(file)
    finally:
        partial.unlink(missing_ok=True)
    media = backup_media(url, file, storage) if storage is not None else 0
    return {"file": str(file), "bytes": file.stat().st_size, "tables": len(tables_in(file, target)), "media": media}


def tables_in(file: Path, target: Target | None = None) -> list[str]:
    """The tables whose data a backup holds (``pg_restore --list``); raises on a file that is not a backup."""
    target = target or Target("", None, None, None, None)
    proc = _run([pg_tool("pg_restore"), "--list", str(file)], target, f"reading {file}")
    return [m.group(1) for m in re.finditer(r"TABLE DATA \S+ (\S+) ", proc.stdout)]


def user_tables(url: str) -> int:
    """How many tables the database holds outside PostgreSQL's and PostGIS's own."""
    engine = create_engine(sqlalchemy_url(url), pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            return conn.execute(text("""
                SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
                AND schemaname NOT LIKE 'pg_toast%' AND tablename <> 'spatial_ref_sys'""")).scalar_one()
    finally:
        engine.dispose()


def restore(url: str, file: Path, *, force: bool = False, storage: Storage | None = None) -> dict:
    """Restore ``file`` into the database at ``url``, in one transaction."""
    file = Path(file)
    if not file.is_file():
        raise BackupFailed(f"{file}: no such file")
    target = Target.from_url(url)
    tables = tables_in(file, target)  # also checks the file is a pg_dump custom-format backup
    existing = user_tables(url)
    if existing and not force:
        raise RestoreRefused(f"{target.describe()} already has {existing} tables; restoring would replace them. "
                             "Add --force to do so (stop the app first).", tables=existing)
    cmd = [pg_tool("pg_restore"), "--single-transaction", "--exit-on-error", "--no-owner"]
    if existing:
        cmd += ["--clean", "--if-exists"]
    _run([*cmd, *target.args(), str(file)], target, "pg_restore")
    media = restore_media(file, storage) if storage is not None else 0
    return {"file": str(file), "tables": len(tables), "database": target.describe(), "replaced": existing,
            "media": media}


def say_target(url: str) -> None:
    """Tell (on stderr, dimmed) which database a command is about to work on: the CLI's commands and ``gridmap
    users`` say it before they touch anything."""
    from rich.console import Console

    Console(stderr=True).print(f"[dim]database: {Target.from_url(url).describe()}[/]")

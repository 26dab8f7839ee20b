"""Throwaway databases seeded with the sample district, for the tests and the benchmarks.

The seeded database is built once into a template, keyed on a fingerprint of the migrations, the
sample data and the loader, and every run clones it (``CREATE DATABASE … TEMPLATE``), so a run after
the first starts in about a second instead of re-loading 20,000 buildings and 50,000 reports.
"""

from __future__ import annotations

import fcntl
import hashlib
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from api.core.config import ROOT


def _fingerprint() -> str:
    h = hashlib.sha256()
    paths = sorted((ROOT / "migrations" / "versions").glob("*.py")) + sorted((ROOT / "api" / "imports").glob("*.py"))
    # The loader and what it calls: routing decisions of the seeded reports come from geo/routing.py and the modules
    # it builds on (its cells, its nearest-grid lists).
    paths += [ROOT / "api" / "reports" / "bulk.py", ROOT / "api" / "locate" / "index.py"]
    paths += [ROOT / "geo" / f"{n}.py" for n in ("routing", "lattice", "nearest", "segments")]
    paths += [ROOT / "api" / "reports" / "archive.py", ROOT / "api" / "core" / "pgload.py",
              ROOT / "api" / "wall" / "rollups.py", ROOT / "api" / "locate" / "decide.py"]
    paths += [ROOT / "api" / "addresses" / "sample.py", ROOT / "api" / "addresses" / "normalize.py"]
    paths += [ROOT / "sample_data" / n for n in ("dongcheng.gpkg.zip", "people.csv.gz", "categories.csv",
                                                  "departments.csv", "roads.gpkg")]
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes() if p.exists() else b"missing")
    return h.hexdigest()[:16]


def _admin_engine(url: str) -> Engine:
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def _build_template(url: str, template: str, fingerprint: str) -> None:
    from alembic import command
    from alembic.config import Config

    from api.core.config import get_settings
    from api.core.db import make_engine, make_sessionmaker, session_scope
    from api.imports.sample import load_sample

    admin = _admin_engine(url)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{template}"'))
    tpl_url = make_url(url).set(database=template).render_as_string(hide_password=False)
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["url"] = tpl_url
    command.upgrade(cfg, "head")
    engine = make_engine(get_settings(), url=tpl_url, pool_size=1)
    with session_scope(make_sessionmaker(engine)) as s:
        load_sample(s)
    engine.dispose()
    with admin.connect() as c:
        c.execute(text(f"COMMENT ON DATABASE \"{template}\" IS 'gridmap-test {fingerprint}'"))
    admin.dispose()


TEMPLATE = "gridmap_seed_template"


def _template_comment(admin: Engine) -> str | None:
    with admin.connect() as c:
        return c.execute(text("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = :n"),
                         {"n": TEMPLATE}).scalar()


def create_seeded_database(url: str) -> None:
    """(Re)create the database at ``url`` as a clone of an up-to-date seeded template.

    The check, the rebuild and the clone run under one file lock, so that several test or benchmark
    runs on the same machine (a developer's and a helper's, say) never drop a template another one
    is cloning.
    """
    name = make_url(url).database
    fingerprint = _fingerprint()
    admin = _admin_engine(url)
    lock = ROOT / ".data" / "seed-template.lock"
    lock.parent.mkdir(exist_ok=True)
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        if _template_comment(admin) != f"gridmap-test {fingerprint}":
            _build_template(url, TEMPLATE, fingerprint)
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"'))
    admin.dispose()


def drop_database(url: str) -> None:
    admin = _admin_engine(url)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def drop_stale_test_databases(url: str, prefix: str) -> None:
    """Drop ``<prefix><pid>`` databases left behind by test runs whose process is gone."""
    admin = _admin_engine(url)
    with admin.connect() as c:
        names = c.execute(text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                          {"p": prefix.replace("_", "\\_") + "%"}).scalars().all()
        for db_name in names:
            pid = db_name[len(prefix):]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                c.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
    admin.dispose()

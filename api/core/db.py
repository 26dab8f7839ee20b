"""Engine, sessions and the declarative base.

The engine is created once (in the app's lifespan, or by the CLI) and handed around; nothing
here opens a connection at import time. The schema itself is owned by Alembic migrations: the
models describe it for queries, they never create it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from api.core.config import Settings, sqlalchemy_url

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def make_engine(settings: Settings, *, url: str | None = None, pool_size: int | None = None) -> Engine:
    engine = create_engine(
        sqlalchemy_url(url or settings.database_url),
        pool_size=pool_size or settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
        # A failed statement's message would otherwise carry its parameters into the logs (a resident's phone,
        # a report's text): the SQL is enough to find the bug (issue 9).
        hide_parameters=True,
        connect_args={"application_name": "gridmap"},
    )
    timeout = int(settings.statement_timeout_ms)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # DBAPI types
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET statement_timeout = {timeout}")
            cur.execute("SET TIME ZONE 'UTC'")
        dbapi_conn.commit()

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()

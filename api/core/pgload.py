"""Bulk writing into PostgreSQL: the machinery behind the million-row imports, whatever they write.

Beside :mod:`api.core.pgcopy` (which encodes a DataFrame as binary COPY bytes) this module holds what a bulk
writer needs around it (issue 4, moved here from the report import by issue 22):

* :func:`copy_frames`: one binary COPY per frame, pipelined (a thread encodes the next chunk while this one
  sends); :func:`copy_rows`: the plain text COPY of row tuples the layer and address imports use;
* :func:`allocate_ids`: ids drawn up front from a table's sequence, only their range crossing the wire;
* :func:`replica_plan`, :func:`set_replica`, :func:`verify_foreign_keys`: PostgreSQL's row-by-row foreign-key
  triggers skipped with ``session_replication_role = replica`` when the role may, every foreign key then
  verified set-based;
* :class:`Satellite` and :func:`resolve_prepared_imports`: part of the writing done on a second connection
  whose transaction is prepared (two-phase commit) and follows the caller's;
* :func:`ewkb_points`: points as PostGIS EWKB laid out in numpy; :class:`PhaseClock`: phases timed and told.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from api.core.errors import ImportFailed
from api.core.pgcopy import binary_copy_chunks

Say = Callable[[str], None]
#: ``progress(done, total)`` as rows are written.
Progress = Callable[[int, int], None]
#: Rows per chunk of a pipelined COPY (a few MB).
COPY_CHUNK = 50_000
#: Rows per progress report of :func:`copy_rows`.
ROWS_CHUNK = 5_000
#: Names of the transactions a parallel import prepares: ``gridmap-import:<the caller's xid>:<random>``.
PREPARED_PREFIX = "gridmap-import"


class PhaseClock:
    """Times consecutive phases and reports each through ``say`` as it ends (the CLI prints it): a million
    rows take the better part of a minute, and an operator should see it moving and where. The seconds are
    added to ``phases`` (a phase met twice adds up)."""

    def __init__(self, phases: dict[str, float], say: Say) -> None:
        self.phases, self.say, self.t = phases, say, time.perf_counter()

    def lap(self, phase: str, message: str) -> None:
        now = time.perf_counter()
        seconds, self.t = now - self.t, now
        self.phases[phase] = round(self.phases.get(phase, 0.0) + seconds, 3)
        self.say(f"{message} ({seconds:.1f} s)")


def copy_rows(session: Session, table: str, columns: list[str], rows: list[tuple], progress: Progress | None) -> None:
    """Rows of Python values through one text COPY, ``progress`` told every :data:`ROWS_CHUNK` rows."""
    conn = session.connection().connection.driver_connection
    with conn.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for start in range(0, len(rows), ROWS_CHUNK):
                for row in rows[start:start + ROWS_CHUNK]:
                    copy.write_row(row)
                if progress:
                    progress(min(start + ROWS_CHUNK, len(rows)), len(rows))


_HEX = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)


def ewkb_points(x: np.ndarray, y: np.ndarray, *, srid: int = 4326, hex: bool = False) -> np.ndarray:
    """Points as PostGIS EWKB (little-endian, with SRID), laid out in numpy: one 25-byte record per point
    (shapely's ``points``, ``set_srid`` and ``to_wkb`` take 4 s for a million). ``hex`` gives the hex text
    PostGIS reads in a CSV COPY. The coordinates must be finite (the import checks them first).

    >>> import shapely
    >>> ewkb_points(np.array([116.5]), np.array([39.9]), hex=True)[0] == shapely.to_wkb(
    ...     shapely.set_srid(shapely.Point(116.5, 39.9), 4326), hex=True, include_srid=True)
    True
    """
    rec = np.zeros(len(x), dtype=[("order", "u1"), ("type", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")])
    rec["order"], rec["type"], rec["srid"], rec["x"], rec["y"] = 1, 0x20000001, srid, x, y
    raw = rec.view(np.uint8).reshape(len(x), 25)
    if not hex:
        return raw.copy().view("S25").ravel()
    out = np.empty((len(x), 50), dtype=np.uint8)
    out[:, 0::2], out[:, 1::2] = _HEX[raw >> 4], _HEX[raw & 15]
    return out.view("S50").ravel().astype("U50").astype(object)



def allocate_ids(session: Session, table: str, m: int) -> np.ndarray:
    """``m`` ids from ``table``'s sequence, in order. Only their range crosses the wire when they are
    consecutive (as they are unless another session draws from the sequence meanwhile); a million ids
    fetched as rows took seconds."""
    # The sequence is looked up once: pg_get_serial_sequence per row was most of the time.
    seq = session.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}).scalar_one()
    lo, hi, listed = session.execute(text("""
        SELECT min(v), max(v), CASE WHEN max(v) - min(v) + 1 = count(*) THEN NULL ELSE array_agg(v ORDER BY v) END
        FROM (SELECT nextval(CAST(:seq AS regclass)) AS v FROM generate_series(1, :n)) t"""),
        {"seq": seq, "n": m}).one()
    return np.arange(lo, hi + 1, dtype=np.int64) if listed is None else np.array(listed, dtype=np.int64)



@dataclass(frozen=True)
class ForeignKey:
    name: str
    table: str
    column: str
    parent: str
    parent_column: str
    parent_type: str


def replica_plan(session: Session, frames: dict[str, pd.DataFrame], *,
                 handled: Collection[tuple[str, str]] = ()) -> list[ForeignKey] | None:
    """The foreign keys to verify set-based if the COPYs skip triggers, or None when skipping them would
    skip anything else: a trigger firing on INSERT other than those in ``handled`` (``(table, trigger)``
    pairs whose work the caller does itself, the heat roll-up's for the report import), an internal trigger
    that is not a foreign-key check (a deferrable unique key), a foreign key over several columns, or one on
    a column the import leaves to a default it cannot see."""
    tables = list(frames)
    triggers = session.execute(text("""
        SELECT t.tgrelid::regclass::text AS tbl, t.tgname, t.tgisinternal, c.contype
        FROM pg_trigger t LEFT JOIN pg_constraint c ON c.oid = t.tgconstraint
        WHERE t.tgrelid = ANY(CAST(:t AS regclass[])) AND t.tgenabled = 'O' AND (t.tgtype & 4) <> 0"""),
        {"t": tables}).all()
    for t in triggers:
        if t.tgisinternal and t.contype == "f":
            continue
        if (t.tbl, t.tgname) in handled:
            continue
        return None
    fks = []
    for r in session.execute(text("""
        SELECT c.conname, c.conrelid::regclass::text AS tbl, a.attname, a.atthasdef,
               c.confrelid::regclass::text AS parent, af.attname AS parent_column,
               format_type(af.atttypid, af.atttypmod) AS parent_type, cardinality(c.conkey) AS k
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = c.confkey[1]
        WHERE c.contype = 'f' AND c.conrelid = ANY(CAST(:t AS regclass[]))
        ORDER BY c.conrelid, c.conname"""), {"t": tables}).all():
        if r.k != 1 or (r.attname not in frames[r.tbl].columns and r.atthasdef):
            return None
        if r.attname in frames[r.tbl].columns:  # a column not written is NULL: nothing to check
            fks.append(ForeignKey(r.conname, r.tbl, r.attname, r.parent, r.parent_column, r.parent_type))
    return fks


def set_replica(session: Session) -> bool:
    """Skip triggers for the rest of the import if the role may (a superuser, or PostgreSQL 15's
    ``GRANT SET ON PARAMETER session_replication_role``)."""
    try:
        with session.begin_nested():
            session.execute(text("SET LOCAL session_replication_role = replica"))
    except DBAPIError:
        return False
    return True


def verify_foreign_keys(session: Session, fks: list[ForeignKey], frames: dict[str, pd.DataFrame], *,
                         own: dict[str, np.ndarray], phase: str) -> None:
    """What the skipped row-by-row checks guaranteed, set-based. ``before`` the COPYs, the rows the import
    refers to but does not write (categories, layouts) are locked ``FOR KEY SHARE`` (as each row's check
    would have), so none can go away before the commit, and counted. ``after`` them, the rows the import
    wrote itself and refers to (reports from routing and cases, cases from their events; invisible to other
    sessions until the commit, so nothing to lock) are counted: a range count when the referenced ids are
    consecutive, an index lookup of each otherwise. A missing row refuses the import, naming it."""
    for fk in fks:
        if (fk.parent in own) != (phase == "after"):
            continue
        col = frames[fk.table][fk.column]
        values = pd.unique(col[col.notna()].to_numpy())
        if values.size == 0:
            continue
        vals = values.tolist() if fk.parent not in own or values.size < 1000 else None
        cast = f"CAST(:v AS {fk.parent_type}[])"
        if fk.parent not in own:
            found = session.execute(text(
                f"SELECT count(*) FROM (SELECT 1 FROM {fk.parent} WHERE {fk.parent_column} = ANY({cast}) "
                "FOR KEY SHARE) t"), {"v": vals}).scalar_one()
        elif np.issubdtype(values.dtype, np.integer) and int(values.max()) - int(values.min()) + 1 == values.size:
            found = session.execute(text(
                f"SELECT count(*) FROM {fk.parent} WHERE {fk.parent_column} BETWEEN :lo AND :hi"),
                {"lo": int(values.min()), "hi": int(values.max())}).scalar_one()
        else:
            vals = values.tolist()
            found = session.execute(text(
                f"SELECT count(*) FROM {fk.parent} WHERE {fk.parent_column} = ANY({cast})"), {"v": vals}).scalar_one()
        if found != values.size:
            vals = values.tolist()
            missing = session.execute(text(
                f"SELECT v FROM unnest({cast}) AS u(v) WHERE NOT EXISTS "
                f"(SELECT 1 FROM {fk.parent} p WHERE p.{fk.parent_column} = u.v) LIMIT 1"), {"v": vals}).scalar()
            raise ImportFailed(f"{fk.table}.{fk.column} {missing!r} has no row in {fk.parent} ({fk.name})",
                               reason="foreign_key")



def column_types(session: Session, table: str, columns: list[str]) -> dict[str, str]:
    """Each column's type as the catalog names it (``format_type``), for the binary COPY."""
    found = dict(session.execute(text("""
        SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
        WHERE attrelid = CAST(:t AS regclass) AND attnum > 0 AND NOT attisdropped"""), {"t": table}).all())
    return {c: found[c] for c in columns}


def copy_frame(session: Session, table: str, frame: pd.DataFrame) -> None:
    """One binary COPY of ``frame``."""
    copy_frames(session, {table: frame})


def copy_frames(session: Session, frames: dict[str, pd.DataFrame], *,
                 done: Callable[[str], None] = lambda _t: None) -> None:
    """One COPY per frame, in order, pipelined, in PostgreSQL's binary format (api/core/pgcopy.py): a thread
    encodes chunk after chunk while this one sends them, so PostgreSQL ingests one chunk while numpy lays out
    the next. (The CSV text pandas wrote took 26 s of Python for the million reports' four tables, and
    PostgreSQL twice as long to parse it: 4.4 s against 1.7 s for the reports without their indexes.)
    ``done(table)`` is called as each COPY ends. A failure on either side stops both and is raised here; the
    transaction is the caller's."""
    types = {table: column_types(session, table, list(frame.columns)) for table, frame in frames.items()}
    chunks: queue.Queue = queue.Queue(maxsize=3)
    stop = threading.Event()

    def produce() -> None:
        try:
            for table, frame in frames.items():
                for chunk in binary_copy_chunks(frame, types[table], rows_per_chunk=COPY_CHUNK):
                    if stop.is_set():
                        return
                    chunks.put((table, chunk))
                chunks.put((table, None))  # this table's end
            chunks.put(None)
        except BaseException as exc:  # handed to the sending thread, which raises it
            chunks.put(exc)

    conn = session.connection().connection.driver_connection
    worker = threading.Thread(target=produce, name="gridmap-copy-encode", daemon=True)
    worker.start()
    copy = None
    try:
        with contextlib.ExitStack() as open_copy:  # the COPY in progress: ended with the error, if any
            while (item := chunks.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                table, data = item
                if data is None:
                    open_copy.close()  # ends the COPY (and raises what PostgreSQL refused)
                    copy = None
                    done(table)
                    continue
                if copy is None:  # a table's first chunk: its COPY starts
                    cur = open_copy.enter_context(conn.cursor())
                    cols = ", ".join(frames[table].columns)
                    copy = open_copy.enter_context(cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT binary)"))
                copy.write(data)
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                chunks.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()


def prepared_transactions(session: Session) -> bool:
    """Whether the server lets a transaction be prepared (``max_prepared_transactions`` above 0)."""
    return int(session.execute(text("SELECT current_setting('max_prepared_transactions')")).scalar_one()) > 0


def engine_of(session: Session) -> Engine:
    """The engine behind ``session``, whether it is bound to an engine or to one of its connections."""
    bind = session.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


class Satellite(threading.Thread):
    """Some of the tables of a bulk write, written on a connection of their own while the caller's writes the
    others: PostgreSQL gives each connection one backend process, so the two halves run on two cores instead
    of one after the other (the COPYs are PostgreSQL-bound). The report import puts the cases, their events
    and the heat roll-ups here.

    The two halves must commit together. This one is prepared (``PREPARE TRANSACTION``) under a name that
    carries the caller's transaction id, and is then committed or rolled back as that transaction ended
    (:func:`resolve_prepared_imports`): right after the caller's commit or rollback (session events), or, if
    the process died in between, by the next import, the API's due-work thread or ``gridmap import``. Its rows
    stay invisible until then, and a prepared transaction survives a server restart.

    Foreign keys are verified as on one connection: the rows this side refers to but does not write
    (categories, layouts) are locked and counted here too, the rows of its own tables that it refers to are
    counted here, and the caller's rows it refers to (``own`` maps those tables to None) are counted on the
    caller's side, which wrote them. ``finish(side, clock)`` runs last, in the same transaction (the heat
    roll-ups); ``phase(table)`` and ``messages[table]`` name each COPY's lap."""

    def __init__(self, session: Session, *, frames: dict[str, pd.DataFrame], all_frames: dict[str, pd.DataFrame],
                 fks: list[ForeignKey], own: dict[str, np.ndarray | None],
                 finish: Callable[[Session, PhaseClock], None], messages: dict[str, str],
                 phase: Callable[[str], str], phases: dict[str, float], say: Say) -> None:
        super().__init__(name="gridmap-import-satellite", daemon=True)
        self.frames, self.all_frames, self.fks, self.own = frames, all_frames, fks, own
        self.finish, self.messages, self.phase, self.phases, self.say = finish, messages, phase, phases, say
        self.engine = engine_of(session)
        xid = session.execute(text("SELECT pg_current_xact_id()::text")).scalar_one()
        self.gid = f"{PREPARED_PREFIX}:{xid}:{uuid.uuid4().hex[:12]}"
        self.failure: BaseException | None = None
        self.pid: int | None = None
        self._cancelled = threading.Event()
        self._resolve_after(session)

    def run(self) -> None:
        clock = PhaseClock(self.phases, self.say)
        try:
            with self.engine.connect() as conn:
                side = Session(bind=conn)
                try:
                    self.pid = side.execute(text("SELECT pg_backend_pid()")).scalar_one()
                    self._check()
                    side.execute(text("SET LOCAL statement_timeout = 0; SET LOCAL work_mem = '256MB'"))
                    side.execute(text("SET LOCAL session_replication_role = replica"))
                    mine = [fk for fk in self.fks if fk.table in self.frames]
                    verify_foreign_keys(side, mine, self.all_frames, own=self.own, phase="before")
                    copy_frames(side, self.frames, done=lambda t: clock.lap(self.phase(t), self.messages[t]))
                    self._check()
                    side.execute(text("SET LOCAL session_replication_role = origin"))
                    verify_foreign_keys(side, [fk for fk in mine if fk.parent in self.frames], self.all_frames,
                                        own=self.own, phase="after")
                    self.finish(side, clock)
                    self._check()
                    # PREPARE ends the transaction on the server: SQLAlchemy, which would roll back what it
                    # believes open, never sees this connection again.
                    side.connection().connection.driver_connection.execute(f"PREPARE TRANSACTION '{self.gid}'")
                    conn.invalidate()
                finally:
                    side.close()
        except BaseException as exc:  # raised on the caller's thread (raise_failure)
            self.failure = exc

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    def cancel(self) -> None:
        """Stop: at the next step, or at once by cancelling the statement in progress (a COPY, say)."""
        self._cancelled.set()
        if self.pid is not None and self.is_alive():
            with contextlib.suppress(Exception), self.engine.connect() as c:
                c.execute(text("SELECT pg_cancel_backend(:p)"), {"p": self.pid})

    def _check(self) -> None:
        if self._cancelled.is_set():
            raise ImportFailed("the import's other connection failed", reason="cancelled")

    def _resolve_after(self, session: Session) -> None:
        """Commit or roll back the prepared half as soon as the caller's transaction has ended: the session's
        commit and rollback events (which also fire for savepoints: the resolver leaves a half whose caller's
        transaction is still in progress, and listens on)."""
        engine, gid = self.engine, self.gid
        settled = False

        def resolve(_session: Session, *_args: object) -> None:
            nonlocal settled  # the listeners stay (removing one while the session dispatches is refused)
            if not settled:
                settled = bool(resolve_prepared_imports(engine, only=gid)) or not _pending(engine, gid)

        event.listen(session, "after_commit", resolve)
        event.listen(session, "after_rollback", resolve)


def _pending(engine: Engine, gid: str) -> bool:
    with engine.connect() as c:
        return c.execute(text("SELECT EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE gid = :g)"), {"g": gid}).scalar()


def resolve_prepared_imports(engine: Engine, *, only: str | None = None) -> list[tuple[str, str]]:
    """Commit each half a parallel import prepared whose caller's transaction committed, and roll back each
    whose caller's transaction aborted (or never finished: a crash); leave those still in progress. Returns
    ``(name, 'committed' | 'rolled back')`` for what it did."""
    done = []
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        rows = conn.execute(text("""
            SELECT gid, pg_xact_status(CAST(split_part(gid, ':', 2) AS xid8)) AS status
            FROM pg_prepared_xacts
            WHERE gid LIKE :prefix AND database = current_database() AND (CAST(:only AS text) IS NULL OR gid = :only)
            """), {"prefix": f"{PREPARED_PREFIX}:%", "only": only}).all()
        for gid, status in rows:
            if status == "committed":
                conn.exec_driver_sql(f"COMMIT PREPARED '{gid}'")
                done.append((gid, "committed"))
            elif status == "aborted":
                conn.exec_driver_sql(f"ROLLBACK PREPARED '{gid}'")
                done.append((gid, "rolled back"))
    return done



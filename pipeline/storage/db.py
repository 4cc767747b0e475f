"""The database: one engine per process, SQLite tuned for a small server, migrated on open."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, CursorResult, Engine, Executable, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from pipeline.private import private_database
from pipeline.storage.migrate import upgrade

SQLITE_BUSY_TIMEOUT_MS = 10_000
PATIENCE_SECONDS = 120.0

log = logging.getLogger(__name__)
T = TypeVar("T")


def changed(
    session: Session, statement: Executable, values: Mapping[str, Any] | None = None
) -> int:
    """Run an UPDATE or DELETE in `session`; how many rows it changed. Session.execute is
    typed as returning a plain Result, but for these statements it is a CursorResult."""
    return cast(CursorResult[Any], session.execute(statement, values)).rowcount


@dataclass(frozen=True)
class Database:
    """An engine and its session factory."""

    engine: Engine
    sessions: sessionmaker[Session]
    migrated: bool = False

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self.sessions.begin() as session:
            yield session

    def ping(self) -> None:
        """Run a trivial query: SQLAlchemyError if the database does not answer."""
        with self.session() as session:
            session.execute(text("SELECT 1"))

    def patiently(self, work: Callable[[Session], T], *, patience: float = PATIENCE_SECONDS) -> T:
        """`work` in a transaction, tried again on a fresh connection while the database is
        away (restarted, connection killed) or busy, for up to `patience` seconds: a send
        must carry on through a short outage rather than stop half done."""

        def attempt() -> T:
            with self.session() as session:
                return work(session)

        return _patiently(attempt, patience)

    def held_connection(
        self, *, flush: bool = True, single_statements: bool = False
    ) -> HeldConnection:
        """A connection of its own for one thread that commits many small transactions
        (see HeldConnection). With `flush=False` a PostgreSQL commit returns before its WAL
        reaches the disk, as SQLite's in WAL mode with synchronous=NORMAL does. With
        `single_statements` a statement run `alone` commits by itself: on PostgreSQL with
        no BEGIN or COMMIT round trips, for work whose transactions are single statements
        (`transact` is one too); on SQLite with no BEGIN and COMMIT steps, which its driver
        would add around a write (`transact` still begins a transaction)."""
        engine = _create_engine(
            self.engine.url.render_as_string(hide_password=False), pre_ping=False
        )
        if not flush and engine.dialect.name == "postgresql":
            event.listen(engine, "connect", _commit_without_flush)
        if single_statements and engine.dialect.name == "postgresql":
            engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        elif single_statements and engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _driver_begins_nothing)
            event.listen(engine, "begin", _begin_sqlite)
        return HeldConnection(engine)

    def close(self) -> None:
        """Release pooled connections (tests and short-lived commands)."""
        self.engine.dispose()


class HeldConnection:
    """One connection kept open between transactions, with no pool checkout, ping or ORM
    session per commit: a small transaction costs its statements and its commit. A lost
    connection fails its transaction, which `transact` tries again on a new one, as
    `Database.patiently` does. Close it when done."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None

    def transact(self, work: Callable[[Connection], T], *, patience: float = PATIENCE_SECONDS) -> T:
        """`work` in one transaction on the held connection, committed on success."""

        def attempt() -> T:
            if self._connection is None:
                self._connection = self.engine.connect()
            try:
                with self._connection.begin():
                    return work(self._connection)
            except DBAPIError:
                self._drop()
                raise

        return _patiently(attempt, patience)

    def alone(self, work: Callable[[Any], T], *, patience: float = PATIENCE_SECONDS) -> T:
        """`work` on the driver's own connection, outside any SQLAlchemy transaction: for
        a statement that commits by itself (`single_statements`), where SQLAlchemy's
        transaction and execution bookkeeping cost the writer more CPU than the
        statement. The driver's errors are raised as SQLAlchemy's, and a lost connection
        is tried again on a new one, as in `transact`."""
        dialect = self.engine.dialect

        def attempt() -> T:
            if self._connection is None:
                self._connection = self.engine.connect()
            driver = self._connection.connection.driver_connection
            try:
                return work(driver)
            except dialect.loaded_dbapi.Error as exc:
                lost = dialect.is_disconnect(exc, driver, None)
                self._drop()
                raise DBAPIError.instance(
                    None, None, exc, dialect.loaded_dbapi.Error, connection_invalidated=lost
                ) from exc

        return _patiently(attempt, patience)

    def close(self) -> None:
        self._drop()
        self.engine.dispose()

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.invalidate()
            self._connection.close()
            self._connection = None


def _patiently(attempt: Callable[[], T], patience: float) -> T:
    """`attempt()` again, with growing pauses, while the database is away or busy (an
    OperationalError, or a connection found invalid), for up to `patience` seconds."""
    deadline = time.monotonic() + patience
    pause = 0.1
    while True:
        try:
            return attempt()
        except DBAPIError as exc:
            lost = isinstance(exc, OperationalError) or exc.connection_invalidated
            if not lost or time.monotonic() + pause > deadline:
                raise
            log.warning("database unavailable, trying again in %.1fs: %s", pause, exc.orig)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def open_database(url: str) -> Database:
    """Connect to `url`, creating the SQLite file's folder, and bring the schema to head."""
    engine = _create_engine(url)
    migrated = upgrade(engine)
    return Database(engine, sessionmaker(engine, expire_on_commit=False), migrated)


def _create_engine(url: str, *, pre_ping: bool = True) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=pre_ping)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        private_database(Path(parsed.database))
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _tune_sqlite)
    return engine


def _commit_without_flush(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET synchronous_commit TO OFF")
    cursor.close()
    dbapi_connection.commit()


def _driver_begins_nothing(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _begin_sqlite(connection: Connection) -> None:
    """A transaction SQLAlchemy begins, where the driver begins none by itself."""
    connection.exec_driver_sql("BEGIN")


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers (the web app) run beside a writer (ingest, sending)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted rows are overwritten, so an erased subscriber leaves no bytes behind.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()

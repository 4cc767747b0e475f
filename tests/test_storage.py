"""Storage on real databases: migrations, SQLite tuning, time zones round-tripping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, inspect, select, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from pipeline.storage import Database, open_database
from pipeline.storage.migrate import current_revision, head_revision, upgrade
from pipeline.storage.models import Post


def test_open_migrates_to_head_and_again_is_a_no_op(database_url: str) -> None:
    db = open_database(database_url)
    try:
        assert current_revision(db.engine) == head_revision()
        assert {"posts", "source_state"} <= set(inspect(db.engine).get_table_names())
        assert upgrade(db.engine) is False
    finally:
        db.close()
    again = open_database(database_url)
    assert current_revision(again.engine) == head_revision()
    again.close()


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'nested' / 'x.db'}")
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 10_000
    db.close()
    assert (tmp_path / "nested" / "x.db").exists()


def test_datetimes_come_back_aware_and_equal(db: Database) -> None:
    moment = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    with db.session() as session:
        session.add(
            Post(
                guid="g",
                source="s",
                slug="s",
                status="published",
                title="t",
                url="https://x/",
                authors=["A"],
                tags=["t"],
                summary="",
                content_html="",
                content_hash="h",
                published=moment,
                updated=moment,
                first_seen=datetime.now(UTC),
            )
        )
    with db.session() as session:
        stored = session.scalars(select(Post)).one()
    assert stored.published == moment
    assert stored.published.utcoffset() == timedelta(0)
    assert stored.authors == ["A"]


def test_migrations_create_exactly_what_the_models_describe(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from pipeline.scheduling.scheduler import JOBS_TABLE, job_store
    from pipeline.storage.models import Base

    job_store(db).jobs_t.create(db.engine)  # APScheduler's own table, as the scheduler makes it
    not_ours = ("alembic_version", JOBS_TABLE)
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = [
            diff
            for diff in compare_metadata(context, Base.metadata)
            if not any(table in str(diff) for table in not_ours)
        ]
    assert differences == []


def test_work_alone_on_a_held_connection_is_committed_and_outlives_a_killed_backend(
    database_url: str, db: Database
) -> None:
    """`alone` is for single statements: each commits by itself, a statement's own error
    is raised at once, and a PostgreSQL backend killed under it is replaced. On SQLite
    `transact` on the same connection is still one transaction."""
    postgres = database_url.startswith("postgresql")
    error = ProgrammingError if postgres else OperationalError  # SQLite's is tried again

    def fails_after_a_write(driver: Any) -> None:
        driver.execute("INSERT INTO alone_probe VALUES (2)")
        driver.execute("SELECT * FROM no_such_table")

    def fails_in_a_transaction(connection: Connection) -> None:
        connection.exec_driver_sql("INSERT INTO alone_probe VALUES (3)")
        raise LookupError("given up")

    def backend(driver: Any) -> int:
        return int(driver.execute("SELECT pg_backend_pid()").fetchone()[0])

    held = db.held_connection(flush=False, single_statements=True)
    try:
        held.alone(lambda driver: driver.execute("CREATE TABLE alone_probe (id integer)"))
        held.alone(lambda driver: driver.execute("INSERT INTO alone_probe VALUES (1)"))
        with pytest.raises(error, match="no_such_table"):
            held.alone(fails_after_a_write, patience=0)
        with pytest.raises(LookupError):
            held.transact(fails_in_a_transaction)
        with db.session() as session:  # another connection sees them: committed
            kept = session.scalars(text("SELECT id FROM alone_probe ORDER BY id")).all()
        assert kept == ([1, 2, 3] if postgres else [1, 2])
        with pytest.raises(error, match="no_such_table"):
            held.alone(lambda driver: driver.execute("SELECT * FROM no_such_table"), patience=0)
        assert held.alone(lambda driver: driver.execute("SELECT 2").fetchone()[0]) == 2
        if postgres:
            first = held.alone(backend)
            with db.session() as session:
                assert session.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            assert held.alone(backend) != first
    finally:
        held.close()

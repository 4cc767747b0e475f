"""Alembic, driven from code: `newsletter init` and every command's first use call `upgrade`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from pipeline.storage.dialect import MIGRATE_LOCK, hold_advisory_lock

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it has no schema yet."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision this code ships."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def upgrade(engine: Engine) -> bool:
    """Migrate to head; a no-op (one query) when already there. Returns whether it migrated."""
    head = head_revision()
    if current_revision(engine) == head:
        return False
    with engine.begin() as connection:
        hold_advisory_lock(connection, MIGRATE_LOCK)
        if MigrationContext.configure(connection).get_current_revision() == head:
            return False
        command.upgrade(_config(connection), "head")
    return True

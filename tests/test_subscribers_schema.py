"""The subscriber tables: migration 0002 matches the models, and the package stands alone."""

from __future__ import annotations

import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from pipeline.storage import Database
from subscribers import Base

TABLES = {"subscribers", "consents", "suppressions"}


def test_the_migration_creates_what_the_models_describe(db: Database) -> None:
    def ours(name: str | None, kind: str, parent: dict[str, str | None]) -> bool:
        if kind == "schema":
            return True
        return (name if kind == "table" else parent["table_name"]) in TABLES

    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": ours})
        assert compare_metadata(context, Base.metadata) == []


def test_subscribers_never_imports_pipeline() -> None:
    check = (
        "import sys, subscribers, subscribers.csv_import, subscribers.csv_export;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pipeline'))"
    )
    output = subprocess.run(
        [sys.executable, "-c", check], check=True, capture_output=True, text=True
    ).stdout
    assert output.strip() == "[]"

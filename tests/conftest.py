"""Shared fixtures: isolated settings and real databases (SQLite files, and PostgreSQL
when NEWSLETTER_TEST_POSTGRES_URL points at one)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from smtp_server import SMTPServer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pipeline.settings import Settings, load_settings
from pipeline.storage import Database, open_database

POSTGRES_URL = os.environ.get("NEWSLETTER_TEST_POSTGRES_URL")
pytest_plugins = ["smtp_server"]


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No NEWSLETTER_ variable or `.env` of the developer's leaks into a test."""
    for name in list(os.environ):
        if name.startswith("NEWSLETTER_") and not name.startswith("NEWSLETTER_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database: a SQLite file, or a throwaway PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'newsletter.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("NEWSLETTER_TEST_POSTGRES_URL is not set")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    yield database
    database.close()


@pytest.fixture
def posts_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "posts"
    folder.mkdir()
    return folder


@pytest.fixture
def settings(tmp_path: Path, posts_dir: Path, database_url: str) -> Settings:
    return load_settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        site_url="https://blog.example.org",
        sources=[{"name": "posts", "kind": "directory", "path": str(posts_dir)}],
    )


@pytest.fixture
def smtp_settings(settings: Settings, smtp_server: SMTPServer) -> Settings:
    """`settings` sending through the test's SMTP server, with a real From and key."""
    return load_settings(
        **{
            **settings.model_dump(include={"database_url", "data_dir", "site_url"}),
            **smtp_server.settings,
            "secret_key": "test-secret-key-0123456789",
            "email_from": "Riverside Notes <news@blog.example.org>",
        }
    )

"""`newsletter feeds build`, through the typer sub-app mounted as the main app mounts it."""

from __future__ import annotations

from pathlib import Path

import feedparser
import pytest
import typer
from typer.testing import CliRunner

from pipeline.cli.feeds import feeds_app
from pipeline.ingest import ingest
from pipeline.settings import load_settings
from pipeline.storage import open_database

CONTENT = Path(__file__).resolve().parents[1] / "content"

app = typer.Typer()
app.add_typer(feeds_app, name="feeds")


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Settings for the bundled content, ingested into a SQLite file in `tmp_path`."""
    sources = f'[{{"name": "content", "kind": "directory", "path": "{CONTENT}"}}]'
    monkeypatch.setenv("NEWSLETTER_SOURCES", sources)
    monkeypatch.setenv("NEWSLETTER_SITE_URL", "https://blog.example.org")
    db = open_database(load_settings().effective_database_url)
    ingest(db, load_settings())
    db.close()
    return tmp_path


def test_build_writes_into_feeds_dir_then_skips(environment: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["feeds", "build"])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("feeds: 13 written, 0 unchanged, 0 removed in var/public")
    feed = feedparser.parse((environment / "var" / "public" / "feed.xml").read_bytes())
    assert feed.bozo == 0 and len(feed.entries) == 6
    again = runner.invoke(app, ["feeds", "build"])
    assert again.exit_code == 0
    assert again.output.startswith("feeds: 0 written, 13 unchanged, 0 removed")


def test_build_into_another_folder(environment: Path) -> None:
    result = CliRunner().invoke(app, ["feeds", "build", "--out", "site"])
    assert result.exit_code == 0, result.output
    assert (environment / "site" / "tags" / "data" / "feed.json").is_file()
    assert not (environment / "var" / "public").exists()


def test_unwritable_folder_is_one_line_and_exit_2(environment: Path) -> None:
    (environment / "blocked").write_text("a file, not a folder", encoding="utf-8")
    result = CliRunner().invoke(app, ["feeds", "build", "--out", "blocked/public"])
    assert result.exit_code == 2
    assert result.output.startswith("error: cannot write feeds: ")
    assert len(result.output.strip().splitlines()) == 1


def test_failing_hub_exits_1_after_writing(
    environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_WEBSUB_HUB", "http://127.0.0.1:9/hub")
    monkeypatch.setenv("NEWSLETTER_HTTP_RETRIES", "0")
    result = CliRunner().invoke(app, ["feeds", "build"])
    assert result.exit_code == 1
    assert "feeds: 13 written" in result.output
    assert "error: WebSub hub http://127.0.0.1:9/hub: 39 of 39 pings failed" in result.output


def test_bad_setting_is_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_FEED_MAX_ITEMS", "0")
    result = CliRunner().invoke(app, ["feeds", "build"])
    assert result.exit_code == 2
    assert "NEWSLETTER_FEED_MAX_ITEMS" in result.output

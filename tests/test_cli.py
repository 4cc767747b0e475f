"""The `newsletter` command as a user runs it: real processes, exit codes, JSON on stdout."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import requests
from cli_runner import run, serving

CONTENT = Path(__file__).resolve().parents[1] / "content"


def test_init_is_idempotent(tmp_path: Path) -> None:
    first = run("init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "database migrated: sqlite:///var/newsletter.db" in first.stdout
    second = run("init", cwd=tmp_path)
    assert "already up to date" in second.stdout
    assert (tmp_path / "var" / "newsletter.db").exists()


def test_config_check_masks_secrets(tmp_path: Path) -> None:
    result = run("config", "check", cwd=tmp_path, SMTP_PASSWORD="s3cret", SITE_TITLE="Notes")
    assert result.returncode == 0
    assert "NEWSLETTER_SMTP_PASSWORD=********" in result.stdout
    assert "NEWSLETTER_SITE_TITLE=Notes" in result.stdout
    assert "s3cret" not in result.stdout


# Passwords inside URLs, and what must be shown instead.
LEAKY_URLS = {
    "DATABASE_URL": "postgresql+psycopg://app:dbpass-1@127.0.0.1:1/news",
    "BROKER_URL": "redis://:brokerpass-2@127.0.0.1:6379/0",
    "SOURCES": json.dumps(
        [{"name": "partner", "kind": "feed", "url": "http://rd:feedpass-3@127.0.0.1:1/x.xml"}]
    ),
}


def test_config_check_hides_passwords_inside_urls(tmp_path: Path) -> None:
    result = run("config", "check", cwd=tmp_path, **LEAKY_URLS)
    assert result.returncode == 0, result.stderr
    assert "pass-" not in result.stdout
    assert "NEWSLETTER_DATABASE_URL=postgresql+psycopg://app:********@127.0.0.1:1/news" in (
        result.stdout
    )
    assert "NEWSLETTER_BROKER_URL=redis://:********@127.0.0.1:6379/0" in result.stdout
    assert "http://rd:********@127.0.0.1:1/x.xml" in result.stdout


def test_ingest_errors_hide_passwords_inside_urls(tmp_path: Path) -> None:
    result = run("ingest", cwd=tmp_path, SOURCES=LEAKY_URLS["SOURCES"])
    assert result.returncode == 1
    assert "error: http://rd:********@127.0.0.1:1/x.xml: " in result.stderr
    assert "pass-" not in result.stderr + result.stdout


def test_the_server_log_hides_passwords_inside_urls(tmp_path: Path) -> None:
    with serving(tmp_path, SOURCES=LEAKY_URLS["SOURCES"], HTTP_RETRIES="0") as (server, _):
        pass
    log = server.communicate(timeout=30)[0]
    assert "rd:********@127.0.0.1:1/x.xml" in log
    assert "pass-" not in log


@pytest.mark.parametrize("password", [" ", " " * 20, "short", "eleven char"])
def test_admin_password_needs_twelve_characters(tmp_path: Path, password: str) -> None:
    result = run("config", "check", cwd=tmp_path, ADMIN_USERNAME="ed", ADMIN_PASSWORD=password)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: NEWSLETTER_ADMIN_PASSWORD: needs at least 12 characters besides spaces"
    ]
    strong = run("config", "check", cwd=tmp_path, ADMIN_PASSWORD="twelve chars")
    assert strong.returncode == 0, strong.stderr


@pytest.mark.parametrize("command", [["config", "check"], ["ingest"], ["posts", "list"], ["init"]])
def test_a_bad_setting_is_one_line_and_exit_2(tmp_path: Path, command: list[str]) -> None:
    result = run(*command, cwd=tmp_path, TIMEZONE="Nowhere/Land")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: NEWSLETTER_TIMEZONE: unknown time zone 'Nowhere/Land' (use an IANA name such as "
        "Europe/London)"
    ]
    assert "Traceback" not in result.stderr + result.stdout


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    result = run("posts", "list", cwd=tmp_path, DATABASE_URL="sqlite:////proc/no/such/dir/x.db")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr


def test_ingest_then_list_json(tmp_path: Path) -> None:
    sources = json.dumps([{"name": "content", "kind": "directory", "path": str(CONTENT)}])
    ingested = run("ingest", cwd=tmp_path, SOURCES=sources)
    assert ingested.returncode == 0, ingested.stderr
    assert ingested.stdout.splitlines() == [
        "content: 7 new, 0 updated, 0 unchanged, 0 removed, 0 failed",
        "feeds: 13 written, 0 unchanged, 0 removed in var/public",
    ]
    assert (tmp_path / "var" / "public" / "feed.xml").exists()
    again = run("ingest", cwd=tmp_path, SOURCES=sources)
    # Nothing changed, so the feeds are not rebuilt.
    assert again.stdout.splitlines() == [
        "content: 0 new, 0 updated, 7 unchanged, 0 removed, 0 failed"
    ]
    listed = run("posts", "list", "--json", cwd=tmp_path, SOURCES=sources)
    posts = json.loads(listed.stdout)
    assert len(posts) == 6  # the draft is not listed
    for post in posts:
        assert {"id", "title", "authors", "url", "published", "tags", "source"} <= set(post)
        assert post["published"].endswith("+00:00")
        assert isinstance(post["authors"], list)
    titles = [post["title"] for post in posts]
    assert "Data sharing between councils & health boards — a field guide" in titles


def test_ingest_reports_a_broken_file_and_exits_1(tmp_path: Path) -> None:
    folder = tmp_path / "posts"
    folder.mkdir()
    (folder / "good.md").write_text("---\ntitle: Good\n---\nBody\n")
    (folder / "bad.md").write_text("---\ndate: soon\ntitle: Bad\n---\n")
    sources = json.dumps([{"name": "posts", "kind": "directory", "path": str(folder)}])
    result = run("ingest", cwd=tmp_path, SOURCES=sources)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {folder / 'bad.md'}: front matter 'date': 'soon' is not a date "
        "(use 2024-05-01 or 2024-05-01T09:30:00+01:00)"
    )
    assert "1 new" in result.stdout and "1 failed" in result.stdout


def test_unknown_source_name_is_exit_2(tmp_path: Path) -> None:
    result = run("ingest", "--source", "nope", cwd=tmp_path)
    assert result.returncode == 2
    assert "no source named 'nope' (configured: content)" in result.stderr


def test_demo_runs_on_the_embedded_defaults(tmp_path: Path) -> None:
    (tmp_path / "content").symlink_to(CONTENT)
    result = run("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "content: 7 new" in result.stdout
    assert "Running a library on volunteers" in result.stdout
    assert json.loads((tmp_path / "var" / "public" / "feed.json").read_text())["items"]
    again = run("demo", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "feeds:" not in again.stdout  # nothing changed, so nothing to build


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_and_its_wal_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    (tmp_path / "content").symlink_to(CONTENT)
    database = tmp_path / "var" / "newsletter.db"
    with serving(tmp_path):  # holds the database open: the -wal and -shm files are there
        files = [database, *(database.with_name(database.name + end) for end in ("-wal", "-shm"))]
        assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}


def test_a_database_made_world_readable_before_is_made_private(tmp_path: Path) -> None:
    database = tmp_path / "var" / "newsletter.db"
    assert run("init", cwd=tmp_path).returncode == 0
    database.chmod(0o644)
    assert run("posts", "list", cwd=tmp_path).returncode == 0
    assert mode(database) == 0o600


def test_unreachable_postgres_is_one_line(tmp_path: Path) -> None:
    result = run("init", cwd=tmp_path, DATABASE_URL="postgresql+psycopg://u:pw@127.0.0.1:1/x")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: database postgresql+psycopg://u:********@127.0.0.1:1/x: "
    )
    assert len(result.stderr.strip().splitlines()) == 1
    assert "pw" not in result.stderr


def test_serve_reads_the_sources_and_serves_feeds_at_once(tmp_path: Path) -> None:
    (tmp_path / "content").symlink_to(CONTENT)
    with serving(tmp_path) as (_, base):
        response = requests.get(f"{base}/feed.xml", timeout=2)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/rss+xml")
    assert "Running a library on volunteers" in response.text


def test_forwarded_allow_ips_must_be_addresses(tmp_path: Path) -> None:
    result = run("config", "check", cwd=tmp_path, FORWARDED_ALLOW_IPS="127.0.0.1, proxy.lan")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: NEWSLETTER_FORWARDED_ALLOW_IPS: 'proxy.lan' is not an IP address or network "
        "(use e.g. 127.0.0.1,10.0.0.0/8, or * for any)"
    ]
    good = run("config", "check", cwd=tmp_path, FORWARDED_ALLOW_IPS="127.0.0.1,10.0.0.0/8")
    assert good.returncode == 0 and "NEWSLETTER_FORWARDED_ALLOW_IPS=127.0.0.1,10.0.0.0/8" in (
        good.stdout
    )

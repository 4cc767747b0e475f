"""Click counting: post links in a run's mails go through a signed redirect that counts per
post per run, and a link the site did not make goes nowhere."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from helpers import running
from sqlalchemy import func, select

from pipeline.clicks import click_path, click_totals
from pipeline.digest import message_parts
from pipeline.digest.runs import start_run
from pipeline.ingest import ingest
from pipeline.mail.template import OutgoingMessage
from pipeline.outbox import send_run
from pipeline.settings import Settings, load_settings
from pipeline.storage import Database
from pipeline.storage.models import ClickCount, Post
from pipeline.web import create_app
from subscribers import SubscriberStore

SECRET = "click-test-secret-0123456789"
_CLICK = re.compile(r"https://blog\.example\.org(/r/\d+/\d+/[A-Za-z0-9_-]+)")


@pytest.fixture
def settings(tmp_path: Path, posts_dir: Path, database_url: str) -> Settings:
    return _settings(tmp_path, posts_dir, database_url)


def _settings(tmp_path: Path, posts_dir: Path, database_url: str, **extra: object) -> Settings:
    return load_settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        site_url="https://blog.example.org",
        secret_key=SECRET,
        sources=[{"name": "posts", "kind": "directory", "path": str(posts_dir)}],
        **extra,
    )


def _write_posts(folder: Path) -> None:
    moment = datetime.now(UTC) - timedelta(hours=3)
    (folder / "own.md").write_text(
        f"---\ntitle: Our own post\ndate: {moment.isoformat()}\n---\nText.\n", encoding="utf-8"
    )
    (folder / "away.md").write_text(
        f"---\ntitle: Elsewhere\ndate: {(moment + timedelta(hours=1)).isoformat()}\n"
        "url: https://elsewhere.example.net/story?id=7\n---\nText.\n",
        encoding="utf-8",
    )


def _sent_run(settings: Settings, db: Database, posts_dir: Path) -> tuple[int, list[bytes]]:
    _write_posts(posts_dir)
    ingest(db, settings)
    SubscriberStore(db.sessions, default_timezone=settings.timezone).add(
        "ann@example.org", confirmed=True
    )
    run = start_run(db, settings, "weekly", datetime.now(UTC)).run
    assert send_run(db, settings, run.id).sent == 1
    return run.id, [eml.read_bytes() for eml in (settings.data_dir / "outbox").glob("*.eml")]


def _bodies(raw: bytes) -> tuple[str, str]:
    return message_parts(OutgoingMessage("", (), "", raw))


def _follow(base_url: str, path: str) -> requests.Response:
    return requests.get(base_url + path, allow_redirects=False, timeout=10)


def _posts(db: Database) -> dict[str, Post]:
    with db.session() as session:
        return {post.title: post for post in session.scalars(select(Post))}


def test_links_count_per_post_per_run_and_redirect_to_the_post(
    settings: Settings, db: Database, posts_dir: Path
) -> None:
    run_id, [raw] = _sent_run(settings, db, posts_dir)
    html, text = _bodies(raw)
    html_paths, text_paths = set(_CLICK.findall(html)), set(_CLICK.findall(text))
    assert len(html_paths) == 2 and html_paths == text_paths
    assert "elsewhere.example.net" not in html and "/posts/" not in html
    assert "<img" not in html  # these posts have no lead image, and there is no open pixel
    posts = _posts(db)
    own, away = posts["Our own post"], posts["Elsewhere"]
    own_path = next(p for p in html_paths if p.startswith(f"/r/{run_id}/{own.id}/"))
    away_path = next(p for p in html_paths if p.startswith(f"/r/{run_id}/{away.id}/"))

    with running(create_app(settings, db)) as base_url:
        first = _follow(base_url, own_path)
        assert first.status_code == 302
        assert first.headers["location"] == f"https://blog.example.org/posts/{own.slug}"
        assert first.headers["cache-control"] == "no-store"
        assert _follow(base_url, away_path).headers["location"] == (
            "https://elsewhere.example.net/story?id=7"
        )
        with ThreadPoolExecutor(8) as pool:  # concurrent hits: none is lost
            answers = list(pool.map(lambda _: _follow(base_url, own_path).status_code, range(40)))
        assert answers == [302] * 40

    totals = click_totals(db, [run_id])
    assert totals.runs == {run_id: 42}
    assert totals.posts[run_id] == [("Our own post", 41), ("Elsewhere", 1)]
    with db.session() as session:  # aggregate rows only: one per run and post
        assert session.scalar(select(func.count()).select_from(ClickCount)) == 2


def test_forged_and_tampered_links_go_nowhere(
    settings: Settings, db: Database, posts_dir: Path, tmp_path: Path, database_url: str
) -> None:
    run_id, [raw] = _sent_run(settings, db, posts_dir)
    posts = _posts(db)
    own, away = posts["Our own post"], posts["Elsewhere"]
    path = next(p for p in _CLICK.findall(_bodies(raw)[0]) if f"/{own.id}/" in p)
    signature = path.rsplit("/", 1)[1]
    other_key = click_path("another-secret-key-0123456789", run_id, own.id)
    tampered = {
        "changed run": f"/r/{run_id + 1}/{own.id}/{signature}",
        "changed post": f"/r/{run_id}/{away.id}/{signature}",
        "truncated signature": path[:-1],
        "empty signature": f"/r/{run_id}/{own.id}/",
        "changed signature": path[:-1] + ("A" if path[-1] != "A" else "B"),
        "other SECRET_KEY": other_key,
        "target appended": f"{path}/https://evil.example.com/",
        "not a number": f"/r/{run_id}x/{own.id}/{signature}",
        "padded id": f"/r/0{run_id}/{own.id}/{signature}",
        "huge id": f"/r/{'9' * 40}/{own.id}/{signature}",
    }
    with running(create_app(settings, db)) as base_url:
        for name, bad in tampered.items():
            answer = _follow(base_url, bad)
            assert answer.status_code == 404, name
            assert "location" not in answer.headers, name
        changed_target = _follow(base_url, f"{path}?url=https://evil.example.com/&next=//evil")
        assert changed_target.status_code == 302
        assert changed_target.headers["location"] == f"https://blog.example.org/posts/{own.slug}"
    assert click_totals(db, [run_id]).runs == {run_id: 1}


def test_a_withdrawn_post_is_no_target(settings: Settings, db: Database, posts_dir: Path) -> None:
    run_id, [raw] = _sent_run(settings, db, posts_dir)
    own = _posts(db)["Our own post"]
    path = next(p for p in _CLICK.findall(_bodies(raw)[0]) if f"/{own.id}/" in p)
    with db.session() as session:
        session.get(Post, own.id).status = "removed"
    with running(create_app(settings, db)) as base_url:
        answer = _follow(base_url, path)
    assert answer.status_code == 404 and "location" not in answer.headers
    assert click_totals(db, [run_id]).runs == {}


def test_counting_off_links_go_direct_and_old_links_still_work(
    settings: Settings, db: Database, posts_dir: Path, tmp_path: Path, database_url: str
) -> None:
    run_id, [raw] = _sent_run(settings, db, posts_dir)
    old_link = _CLICK.findall(_bodies(raw)[0])[0]
    off = _settings(tmp_path, posts_dir, database_url, click_counting=False)
    for eml in (off.data_dir / "outbox").glob("*.eml"):
        eml.unlink()
    SubscriberStore(db.sessions, default_timezone=off.timezone).add(
        "bo@example.org", frequency="daily", confirmed=True
    )
    later = start_run(db, off, "daily", datetime.now(UTC)).run
    assert send_run(db, off, later.id).sent == 1
    [eml] = (off.data_dir / "outbox").glob("*.eml")
    html, text = _bodies(eml.read_bytes())
    assert "/r/" not in html and "/r/" not in text
    assert "https://blog.example.org/posts/" in html
    with running(create_app(off, db)) as base_url:
        assert _follow(base_url, old_link).status_code == 302
    assert click_totals(db, [run_id, later.id]).runs == {}

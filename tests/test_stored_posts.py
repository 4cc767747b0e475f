"""Posts stored by an earlier version keep their identity when re-ingested: an id and
slug cut at 80 characters (before slugs were cut at a word boundary), and text stored
before the text rules (control characters, tags in titles, summary and author rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from pipeline.ingest import ingest_source
from pipeline.post_text import TEXT_RULES
from pipeline.settings import Settings
from pipeline.sources import base, open_source
from pipeline.storage import Database
from pipeline.storage.models import Post, SourceState
from pipeline.text import former_slugify, slugify

T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
LONG_TITLE = (
    "What the council learned from three years of participatory budgeting in neighbourhoods"
    " across the West Midlands"
)
LONG_STEM = "how-combined-authorities-negotiate-devolution-deals-with-whitehall-departments-today"


def identities(db: Database) -> dict[str, tuple[object, ...]]:
    with db.session() as session:
        return {
            post.title: (post.id, post.guid, post.slug, post.url, post.news_at, post.first_seen)
            for post in session.scalars(select(Post).where(Post.status == "published"))
        }


def run(db: Database, settings: Settings, at: datetime):  # type: ignore[no-untyped-def]
    return ingest_source(db, open_source(settings.sources[0], settings), settings, now=at)


@pytest.fixture
def stored_by_old_version(
    db: Database, settings: Settings, posts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, tuple[object, ...]]:
    """A text export and a Markdown file with long slugs, ingested the way the version
    that cut slugs at 80 characters did."""
    (posts_dir / "archive.txt").write_text(
        f"{LONG_TITLE}\n\nAnn Lee\n\nBody of the long post.\n\nShort one\n\nBo Chen\n\nBody.\n",
        encoding="utf-8",
    )
    (posts_dir / f"{LONG_STEM}.md").write_text(
        "---\ntitle: Devolution deals\ndate: 2026-10-01T09:00:00Z\n---\nText.\n", encoding="utf-8"
    )
    for text in (LONG_TITLE, LONG_STEM):
        assert former_slugify(text) != slugify(text)  # the two cuts really differ
    with monkeypatch.context() as old:
        old.setattr(base, "slugify", former_slugify)
        report = run(db, settings, T0)
    assert report.new == 3
    return identities(db)


def test_unchanged_files_keep_their_posts(
    db: Database, settings: Settings, stored_by_old_version: dict[str, tuple[object, ...]]
) -> None:
    report = run(db, settings, T0 + timedelta(days=1))
    assert (report.new, report.updated, report.unchanged, report.removed) == (0, 0, 3, 0)
    assert identities(db) == stored_by_old_version


def test_edited_files_update_their_posts_in_place(
    db: Database,
    settings: Settings,
    posts_dir: Path,
    stored_by_old_version: dict[str, tuple[object, ...]],
) -> None:
    archive = (posts_dir / "archive.txt").read_text(encoding="utf-8")
    (posts_dir / "archive.txt").write_text(
        archive.replace("Body of the long post.", "Body of the long post, edited."),
        encoding="utf-8",
    )
    for path in posts_dir.iterdir():
        path.write_text(path.read_text(encoding="utf-8") + "\nA line added later.\n")
    report = run(db, settings, T0 + timedelta(days=1))
    assert (report.new, report.updated, report.unchanged, report.removed) == (0, 3, 0, 0)
    assert identities(db) == stored_by_old_version
    slugs = {entry[2] for entry in stored_by_old_version.values()}
    assert former_slugify(LONG_TITLE) in slugs and former_slugify(LONG_STEM) in slugs


def test_a_lost_source_state_neither_duplicates_nor_retires(
    db: Database, settings: Settings, stored_by_old_version: dict[str, tuple[object, ...]]
) -> None:
    with db.session() as session:
        session.execute(delete(SourceState))
    report = run(db, settings, T0 + timedelta(days=1))
    assert (report.new, report.updated, report.removed) == (0, 0, 0)
    # The next read skips the unchanged files: their former ids still vouch for the posts.
    report = run(db, settings, T0 + timedelta(days=2))
    assert (report.new, report.updated, report.unchanged, report.removed) == (0, 0, 3, 0)
    assert identities(db) == stored_by_old_version
    with db.session() as session:
        assert session.scalar(select(Post.id).where(Post.status != "published")) is None


def test_new_posts_take_the_word_boundary_slug(
    db: Database, settings: Settings, posts_dir: Path
) -> None:
    (posts_dir / f"{LONG_STEM}.md").write_text("---\ntitle: Deals\n---\nText.\n")
    assert run(db, settings, T0).new == 1
    [(_, _, slug, url, _, _)] = identities(db).values()
    assert slug == slugify(LONG_STEM) and url == f"/posts/{slug}"


def test_posts_stored_before_the_text_rules_are_brought_in_line(
    db: Database, settings: Settings, posts_dir: Path
) -> None:
    (posts_dir / "one.md").write_text(
        "---\ntitle: Fish and chips\nauthor: Stephen Jeffares\ndate: 2026-10-01T09:00:00Z\n---\n"
        "Picture credit: https://pics.example/1\n\nThe first real paragraph. And more.\n",
        encoding="utf-8",
    )
    assert run(db, settings, T0).new == 1
    # What a version before the text rules stored for such a post.
    with db.session() as session:
        session.execute(
            update(Post).values(
                title="Fish &amp; chips <b>not bold</b>\u202e\x07",
                authors=["Dr Stephen Jeffares, Senior Associate INLOGOV", "\u202eBo\x00 Chen"],
                summary="Picture credit: https://pics.example/1",
                text_rules=0,
            )
        )
    before = identities(db)
    [(post_id, guid, slug, url, news_at, first_seen)] = before.values()
    report = run(db, settings, T0 + timedelta(days=1))
    assert (report.new, report.updated, report.removed) == (0, 1, 0)
    with db.session() as session:
        post = session.get(Post, post_id)
        assert post is not None
        assert post.title == "Fish & chips not bold"
        assert post.authors == ["Stephen Jeffares", "Bo Chen"]
        assert post.summary == "The first real paragraph. And more."
        assert post.text_rules == TEXT_RULES
        assert post.updated == T0 + timedelta(days=1)
        assert (post.guid, post.slug, post.url, post.news_at, post.first_seen) == (
            guid,
            slug,
            url,
            news_at,
            first_seen,
        )
    # Brought in line once: the next run finds nothing to do.
    report = run(db, settings, T0 + timedelta(days=2))
    assert (report.new, report.updated, report.unchanged) == (0, 0, 1)

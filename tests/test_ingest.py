"""Ingest from a real folder into a real database: new, unchanged, updated, removed, broken."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from pipeline.ingest import ingest
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.storage.models import Post
from pipeline.storage.posts import published_posts

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def markdown(title: str, body: str = "Body text.", extra: str = "") -> str:
    return f"---\ntitle: {title}\ndate: 2026-10-01T09:00:00Z\nauthor: Ann Lee\n{extra}---\n{body}\n"


def all_posts(db: Database) -> dict[str, Post]:
    with db.session() as session:
        return {post.slug: post for post in session.scalars(select(Post))}


def test_first_ingest_stores_normalised_posts(
    db: Database, settings: Settings, posts_dir: Path
) -> None:
    write(
        posts_dir,
        "one.md",
        markdown("One & only <b>bold</b>", "First para.\n\nSecond <script>x</script>"),
    )
    write(
        posts_dir,
        "archive.txt",
        "Title A\n\nAnn Lee\n\nBody of A.\n\nTitle B\n\nBo Chen\n\nBody of B.\n",
    )
    [report] = ingest(db, settings)
    assert (report.new, report.updated, report.unchanged, report.failed) == (3, 0, 0, 0)
    posts = all_posts(db)
    one = posts["one"]
    # Titles are plain text: tags stripped, as WordPress does.
    assert one.title == "One & only bold"
    assert one.url == "/posts/one"  # the site's own post: made absolute from SITE_URL when shown
    assert one.summary == "First para."
    assert "<script>" not in one.content_html and "Second" in one.content_html
    assert one.published == datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
    assert one.guid.startswith("urn:newsletter:")
    assert posts["title-a"].authors == ["Ann Lee"] and posts["title-b"].authors == ["Bo Chen"]
    # Undated posts take the time first seen, in the order the archive lists them.
    assert posts["title-a"].published > posts["title-b"].published


def test_rerun_changes_nothing(db: Database, settings: Settings, posts_dir: Path) -> None:
    write(posts_dir, "one.md", markdown("One"))
    write(posts_dir, "two.txt", "Two\n\nBo Chen\n\nBody.\n")
    ingest(db, settings)
    before = {slug: (p.updated, p.published, p.content_hash) for slug, p in all_posts(db).items()}
    [report] = ingest(db, settings)
    assert (report.new, report.updated, report.unchanged, report.removed) == (0, 0, 2, 0)
    after = {slug: (p.updated, p.published, p.content_hash) for slug, p in all_posts(db).items()}
    assert after == before


def test_changed_post_is_updated_in_place(
    db: Database, settings: Settings, posts_dir: Path
) -> None:
    path = write(posts_dir, "one.md", markdown("One", "Old text."))
    ingest(db, settings)
    original = all_posts(db)["one"]
    path.write_text(markdown("One", "New text, longer."), encoding="utf-8")
    [report] = ingest(db, settings)
    assert (report.new, report.updated) == (0, 1)
    changed = all_posts(db)["one"]
    assert (changed.id, changed.guid, changed.published) == (
        original.id,
        original.guid,
        original.published,
    )
    assert "New text" in changed.content_html
    assert changed.updated > original.updated


def test_removed_and_draft_posts_leave_the_published_list(
    db: Database, settings: Settings, posts_dir: Path
) -> None:
    write(posts_dir, "keep.md", markdown("Keep"))
    gone = write(posts_dir, "gone.md", markdown("Gone"))
    hidden = write(posts_dir, "hidden.md", markdown("Hidden"))
    ingest(db, settings)
    gone.unlink()
    hidden.write_text(markdown("Hidden", extra="draft: true\n"), encoding="utf-8")
    [report] = ingest(db, settings)
    assert (report.removed, report.updated) == (1, 1)
    assert [post.slug for post in published_posts(db)] == ["keep"]
    statuses = {slug: post.status for slug, post in all_posts(db).items()}
    assert statuses == {"keep": "published", "gone": "removed", "hidden": "draft"}
    write(posts_dir, "gone.md", markdown("Gone"))
    [report] = ingest(db, settings)
    assert report.updated == 1
    assert all_posts(db)["gone"].status == "published"


def test_a_broken_file_is_reported_and_the_rest_ingested(
    db: Database, settings: Settings, posts_dir: Path
) -> None:
    write(posts_dir, "good.md", markdown("Good"))
    write(posts_dir, "bad.md", "---\ntitle: [oops\n---\n")
    (posts_dir / "latin1.txt").write_bytes("Caf\xe9 title\n\nAnn\n\nBody\n".encode("latin-1"))
    [report] = ingest(db, settings)
    assert (report.new, report.failed) == (1, 2)
    assert any(
        line.startswith(f"{posts_dir / 'bad.md'}: front matter at line") for line in report.errors
    )
    assert f"{posts_dir / 'latin1.txt'}: not UTF-8 text (byte 3)" in report.errors


def test_a_file_that_breaks_later_keeps_its_posts(
    db: Database, settings: Settings, posts_dir: Path
) -> None:
    path = write(posts_dir, "one.md", markdown("One"))
    ingest(db, settings)
    path.write_text("---\ntitle: [oops\n---\n", encoding="utf-8")
    [report] = ingest(db, settings)
    assert (report.failed, report.removed) == (1, 0)
    assert [post.slug for post in published_posts(db)] == ["one"]
    path.write_text(markdown("One", "Fixed."), encoding="utf-8")
    [report] = ingest(db, settings)
    assert (report.failed, report.updated) == (0, 1)


def test_missing_folder_fails_that_source_only(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    settings.sources[0].path = str(tmp_path / "nowhere")
    [report] = ingest(db, settings)
    assert report.failed == 1
    assert report.errors == [f"{tmp_path / 'nowhere'}: folder not found"]


def test_clashing_slugs_get_a_suffix(db: Database, settings: Settings, posts_dir: Path) -> None:
    write(posts_dir, "a.md", markdown("Same", extra="slug: same\nid: first\n"))
    write(posts_dir, "b.md", markdown("Same", extra="slug: same\nid: second\n"))
    ingest(db, settings)
    assert sorted(all_posts(db)) == ["same", "same-2"]
    [report] = ingest(db, settings)
    assert report.unchanged == 2


def test_jekyll_style_file_names_lose_their_date_in_the_slug(
    db: Database, settings: Settings, posts_dir: Path
) -> None:
    write(posts_dir, "2026-01-31-winter-notes.md", markdown("Winter"))
    ingest(db, settings)
    assert list(all_posts(db)) == ["winter-notes"]

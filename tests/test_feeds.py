"""Feeds built from posts in a real database, read back with feedparser.

Posts come from the bundled content (through ingest) or are inserted as rows; every
output is parsed, and rebuilds are checked on the files themselves (bytes, mtimes).
"""

from __future__ import annotations

import calendar
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from lxml import etree
from sqlalchemy import insert, update
from werkzeug import Request, Response

from pipeline.feeds import build_feeds
from pipeline.feeds.rss_atom import atom_id
from pipeline.ingest import ingest
from pipeline.links import post_url
from pipeline.settings import Settings, load_settings
from pipeline.storage import Database
from pipeline.storage.models import Post
from pipeline.storage.posts import published_posts

CONTENT = Path(__file__).resolve().parents[1] / "content"
SITE = "https://blog.example.org"
START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
XML_FILES = ("feed.xml", "atom.xml")
FILES = (*XML_FILES, "feed.json")


def configure(settings: Settings, **changes: Any) -> Settings:
    """The fixture's settings with some changed, validated as the environment would be."""
    return load_settings(**(settings.model_dump() | changes))


def post_row(number: int, **changes: Any) -> dict[str, Any]:
    """A published post row; post N is N days newer than post 0."""
    published = START + timedelta(days=number)
    return {
        "guid": f"{SITE}/posts/post-{number}",
        "source": "test",
        "slug": f"post-{number}",
        "status": "published",
        "title": f"Post {number}",
        "url": f"{SITE}/posts/post-{number}",
        "authors": ["Ann Lee"],
        "tags": ["housing"],
        "summary": f"Summary of post {number}.",
        "content_html": f"<p>Body of post {number}.</p>",
        "content_hash": f"hash-{number}",
        "published": published,
        "updated": published,
        "first_seen": published,
    } | changes


def add_posts(db: Database, *rows: dict[str, Any]) -> None:
    with db.session() as session:
        session.execute(insert(Post), list(rows))


def change_post(db: Database, guid: str, **values: Any) -> None:
    with db.session() as session:
        session.execute(update(Post).where(Post.guid == guid).values(**values))


def parse(path: Path) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(path.read_bytes())
    assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
    return parsed


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `root` (manifest included) with its bytes and mtime."""
    return {
        str(path.relative_to(root)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def timestamp(parsed_time: time.struct_time) -> int:
    return calendar.timegm(parsed_time)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "public"


def test_feeds_of_the_bundled_content_read_back_exactly(
    db: Database, settings: Settings, out: Path
) -> None:
    config = configure(
        settings, sources=[{"name": "content", "kind": "directory", "path": str(CONTENT)}]
    )
    ingest(db, config)
    posts = published_posts(db)
    report = build_feeds(db, config, out)
    tags = {tag for post in posts for tag in post.tags}
    authors = {author for post in posts for author in post.authors}
    assert len(report.written) == 1 + len(tags) + len(authors)
    assert report.changed and report.unchanged == 0 and report.removed == []
    for name in XML_FILES:
        feed = parse(out / name)
        assert [entry.title for entry in feed.entries] == [post.title for post in posts]
        links = [post_url(post.url, post.slug, config.base_url) for post in posts]
        assert [entry.link for entry in feed.entries] == links
        assert [entry.id for entry in feed.entries] == [atom_id(post.guid) for post in posts]
        published = [timestamp(entry.published_parsed) for entry in feed.entries]
        assert published == [int(post.published.timestamp()) for post in posts]
        assert published == sorted(published, reverse=True)
    rss = parse(out / "feed.xml")
    assert [entry.id for entry in rss.entries] == [post.guid for post in posts]
    document = json.loads((out / "feed.json").read_text(encoding="utf-8"))
    assert [item["title"] for item in document["items"]] == [post.title for post in posts]
    assert "Data sharing between councils & health boards — a field guide" in [
        entry.title for entry in rss.entries
    ]


def test_feed_level_fields_and_self_links(db: Database, settings: Settings, out: Path) -> None:
    add_posts(db, post_row(1))
    config = configure(settings, site_title="Policy Notes", language="en-GB")
    build_feeds(db, config, out)
    for name in XML_FILES:
        feed = parse(out / name).feed
        assert feed.title == "Policy Notes"
        assert feed.language == "en-GB"
        links = {(link.rel, link.href) for link in feed.links}
        assert ("self", f"{SITE}/{name}") in links
        assert ("alternate", f"{SITE}/") in links
        assert not any(link.rel == "hub" for link in feed.links)
        assert "generator" not in feed or "feedgen" not in feed.generator


def test_max_items_newest_first(db: Database, settings: Settings, out: Path) -> None:
    add_posts(db, *(post_row(number) for number in range(6)))
    build_feeds(db, configure(settings, feed_max_items=4), out)
    expected = ["Post 5", "Post 4", "Post 3", "Post 2"]
    for folder in (out, out / "tags" / "housing", out / "authors" / "ann-lee"):
        for name in XML_FILES:
            assert [entry.title for entry in parse(folder / name).entries] == expected
        items = json.loads((folder / "feed.json").read_text(encoding="utf-8"))["items"]
        assert [item["title"] for item in items] == expected


def test_drafts_and_removed_posts_stay_out(db: Database, settings: Settings, out: Path) -> None:
    add_posts(db, post_row(1), post_row(2, status="draft"), post_row(3, status="removed"))
    build_feeds(db, settings, out)
    assert [entry.title for entry in parse(out / "feed.xml").entries] == ["Post 1"]


def test_a_feed_per_tag_and_per_author(db: Database, settings: Settings, out: Path) -> None:
    add_posts(
        db,
        post_row(1, tags=["Housing", "Data & Trust"], authors=["Ann Lee", "Bo Chen"]),
        post_row(2, tags=["housing"], authors=["Bo Chen"]),
        post_row(3, tags=[], authors=[]),
    )
    report = build_feeds(db, settings, out)
    assert sorted(report.written) == [
        "",
        "authors/ann-lee",
        "authors/bo-chen",
        "tags/data-trust",
        "tags/housing",
    ]
    expected = {
        "tags/housing": (["Post 2", "Post 1"], "housing"),  # spellings share a feed
        "tags/data-trust": (["Post 1"], "Data & Trust"),
        "authors/bo-chen": (["Post 2", "Post 1"], "Bo Chen"),
        "authors/ann-lee": (["Post 1"], "Ann Lee"),
    }
    for path, (titles, name) in expected.items():
        for file in XML_FILES:
            feed = parse(out / path / file)
            assert [entry.title for entry in feed.entries] == titles
            assert feed.feed.title == f"{settings.site_title}: {name}"
            links = {(link.rel, link.href) for link in feed.feed.links}
            assert ("self", f"{SITE}/{path}/{file}") in links
            assert ("alternate", f"{SITE}/{path}") in links
        document = json.loads((out / path / "feed.json").read_text(encoding="utf-8"))
        assert document["home_page_url"] == f"{SITE}/{path}"
        assert document["feed_url"] == f"{SITE}/{path}/feed.json"


def test_tricky_titles_round_trip_from_the_database(
    db: Database, settings: Settings, out: Path
) -> None:
    titles = ["Tom & Jerry <3", "\"Quoted\" & 'single'", "Emoji 📬🏛️", "שלום — مرحبا"]
    add_posts(db, *(post_row(n, title=title, tags=[title]) for n, title in enumerate(titles)))
    build_feeds(db, settings, out)
    newest_first = titles[::-1]
    for name in XML_FILES:
        entries = parse(out / name).entries
        assert [entry.title for entry in entries] == newest_first
        assert [entry.tags[0].term for entry in entries] == newest_first
    items = json.loads((out / "feed.json").read_text(encoding="utf-8"))["items"]
    assert [item["title"] for item in items] == newest_first
    assert parse(out / "tags" / "tom-jerry-3" / "atom.xml").feed.title.endswith(": Tom & Jerry <3")


def test_posts_without_authors_carry_the_site_as_author(
    db: Database, settings: Settings, out: Path
) -> None:
    add_posts(db, post_row(1, authors=[]), post_row(2, authors=["Bo Chen", "Ann Lee"]))
    build_feeds(db, configure(settings, site_title="Policy Notes"), out)
    atom = parse(out / "atom.xml")
    assert [[a.name for a in entry.authors] for entry in atom.entries] == [
        ["Bo Chen", "Ann Lee"],
        ["Policy Notes"],
    ]
    assert atom.feed.author_detail.name == "Policy Notes"
    rss = parse(out / "feed.xml")
    assert [[a.name for a in entry.authors] for entry in rss.entries] == [
        ["Bo Chen", "Ann Lee"],
        ["Policy Notes"],
    ]
    items = json.loads((out / "feed.json").read_text(encoding="utf-8"))["items"]
    assert [item["authors"] for item in items] == [
        [{"name": "Bo Chen"}, {"name": "Ann Lee"}],
        [{"name": "Policy Notes"}],
    ]


def test_json_feed_follows_version_1_1(db: Database, settings: Settings, out: Path) -> None:
    modified = START + timedelta(days=3, hours=5)
    add_posts(
        db,
        post_row(1, tags=["housing", "data"]),
        post_row(2, summary="", updated=modified, authors=[]),
    )
    config = configure(settings, site_title="Notes", site_description="About towns", language="fr")
    build_feeds(db, config, out)
    raw = (out / "feed.json").read_bytes()
    document = json.loads(raw)
    assert raw.endswith(b"}\n")
    assert document == {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Notes",
        "home_page_url": f"{SITE}/",
        "feed_url": f"{SITE}/feed.json",
        "description": "About towns",
        "language": "fr",
        "authors": [{"name": "Notes"}],
        "items": [
            {
                "id": f"{SITE}/posts/post-2",
                "url": f"{SITE}/posts/post-2",
                "title": "Post 2",
                "content_html": "<p>Body of post 2.</p>",
                "date_published": "2026-10-03T09:00:00+00:00",
                "date_modified": "2026-10-04T14:00:00+00:00",
                "authors": [{"name": "Notes"}],
                "tags": ["housing"],
            },
            {
                "id": f"{SITE}/posts/post-1",
                "url": f"{SITE}/posts/post-1",
                "title": "Post 1",
                "content_html": "<p>Body of post 1.</p>",
                "summary": "Summary of post 1.",
                "date_published": "2026-10-02T09:00:00+00:00",
                "date_modified": "2026-10-02T09:00:00+00:00",
                "authors": [{"name": "Ann Lee"}],
                "tags": ["housing", "data"],
            },
        ],
    }


def test_dates_come_from_the_posts(db: Database, settings: Settings, out: Path) -> None:
    modified = START + timedelta(days=9, minutes=30)
    add_posts(db, post_row(1, updated=modified), post_row(2))
    build_feeds(db, settings, out)
    atom = parse(out / "atom.xml")
    assert atom.feed.updated == modified.isoformat()
    assert [entry.updated for entry in atom.entries] == [
        post_row(2)["published"].isoformat(),
        modified.isoformat(),
    ]
    rss = parse(out / "feed.xml")
    assert timestamp(rss.feed.updated_parsed) == int(modified.timestamp())  # lastBuildDate


def test_first_seen_time_is_not_shown_as_an_update(
    db: Database, settings: Settings, out: Path
) -> None:
    """Ingest dates an undated update with the moment it first saw a post; feeds show the
    publication time then, so a first import does not look like a burst of updates."""
    seen = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    add_posts(db, post_row(1, updated=seen, first_seen=seen))
    build_feeds(db, settings, out)
    [entry] = parse(out / "atom.xml").entries
    assert entry.updated == entry.published == post_row(1)["published"].isoformat()


def test_rebuild_without_changes_writes_nothing(
    db: Database, settings: Settings, out: Path
) -> None:
    add_posts(db, *(post_row(number, tags=[f"tag{number % 3}"]) for number in range(8)))
    first = build_feeds(db, settings, out)
    before = snapshot(out)
    assert ".manifest.json" in before
    again = build_feeds(db, settings, out)
    assert (again.written, again.removed, again.urls) == ([], [], [])
    assert again.unchanged == len(first.written) and not again.changed
    assert snapshot(out) == before


def test_full_rerender_is_byte_identical(db: Database, settings: Settings, out: Path) -> None:
    add_posts(db, post_row(1), post_row(2, tags=["data"]))
    build_feeds(db, settings, out)
    before = snapshot(out)
    (out / ".manifest.json").unlink()
    time.sleep(1.1)  # a clock-derived date would now differ
    report = build_feeds(db, settings, out)
    assert report.written == [] and report.unchanged == 4  # site, two tags, one author
    after = snapshot(out)
    assert after.pop(".manifest.json")[0] == before.pop(".manifest.json")[0]  # written anew
    assert after == before


def test_deleted_file_is_written_again(db: Database, settings: Settings, out: Path) -> None:
    add_posts(db, post_row(1))
    build_feeds(db, settings, out)
    (out / "tags" / "housing" / "atom.xml").unlink()
    report = build_feeds(db, settings, out)
    assert report.written == ["tags/housing"]
    assert report.urls == [f"{SITE}/tags/housing/atom.xml"]
    parse(out / "tags" / "housing" / "atom.xml")


def test_changed_post_rebuilds_only_its_feeds(db: Database, settings: Settings, out: Path) -> None:
    add_posts(
        db,
        post_row(1, tags=["housing"], authors=["Ann Lee"]),
        post_row(2, tags=["data"], authors=["Bo Chen"]),
    )
    build_feeds(db, settings, out)
    before = snapshot(out)
    change_post(
        db,
        f"{SITE}/posts/post-1",
        title="Post 1, revised",
        content_hash="hash-1b",
        updated=START + timedelta(days=20),
    )
    report = build_feeds(db, settings, out)
    assert sorted(report.written) == ["", "authors/ann-lee", "tags/housing"]
    assert report.unchanged == 2
    assert sorted(report.urls) == sorted(
        f"{SITE}/{path}{name}"
        for path in ("", "authors/ann-lee/", "tags/housing/")
        for name in FILES
    )
    after = snapshot(out)
    for path in ("tags/data", "authors/bo-chen"):
        for name in FILES:
            assert after[f"{path}/{name}"] == before[f"{path}/{name}"]
    titles = [entry.title for entry in parse(out / "tags" / "housing" / "feed.xml").entries]
    assert titles == ["Post 1, revised"]


def test_feeds_of_tags_and_authors_without_posts_are_removed(
    db: Database, settings: Settings, out: Path
) -> None:
    add_posts(
        db,
        post_row(1, tags=["housing"], authors=["Ann Lee"]),
        post_row(2, tags=["data"], authors=["Bo Chen"]),
    )
    build_feeds(db, settings, out)
    (out / "tags" / "data" / "notes.txt").write_text("not ours", encoding="utf-8")
    change_post(db, f"{SITE}/posts/post-2", status="removed")
    report = build_feeds(db, settings, out)
    assert report.removed == ["authors/bo-chen", "tags/data"]
    assert not (out / "authors" / "bo-chen").exists()
    assert sorted(p.name for p in (out / "tags" / "data").iterdir()) == ["notes.txt"]
    assert "tags/data" not in json.loads((out / ".manifest.json").read_text())["feeds"]
    assert [entry.title for entry in parse(out / "feed.xml").entries] == ["Post 1"]


def test_empty_site_still_has_valid_feeds(db: Database, settings: Settings, out: Path) -> None:
    report = build_feeds(db, settings, out)
    assert report.written == [""]
    for name in XML_FILES:
        assert parse(out / name).entries == []
    assert json.loads((out / "feed.json").read_text(encoding="utf-8"))["items"] == []


def test_feeds_dir_is_the_default_destination(db: Database, settings: Settings) -> None:
    add_posts(db, post_row(1))
    report = build_feeds(db, settings)
    assert report.out_dir == settings.effective_feeds_dir
    assert (settings.effective_feeds_dir / "feed.xml").is_file()


def test_reader_never_sees_a_partial_document(db: Database, settings: Settings, out: Path) -> None:
    big = "<p>" + "word " * 10_000 + "</p>"
    add_posts(db, *(post_row(number, content_html=big) for number in range(20)))
    build_feeds(db, settings, out)
    stop = threading.Event()
    reads: list[int] = []
    failures: list[str] = []

    def read_in_a_loop() -> None:
        while not stop.is_set():
            try:
                etree.fromstring((out / "feed.xml").read_bytes())
                etree.fromstring((out / "atom.xml").read_bytes())
                json.loads((out / "feed.json").read_bytes())
            except (OSError, etree.XMLSyntaxError, ValueError) as exc:
                failures.append(repr(exc))
            reads.append(1)

    reader = threading.Thread(target=read_in_a_loop)
    reader.start()
    try:
        for round_ in range(12):
            change_post(
                db, f"{SITE}/posts/post-19", title=f"Round {round_}", content_hash=f"r{round_}"
            )
            assert "" in build_feeds(db, settings, out).written
    finally:
        stop.set()
        reader.join()
    assert failures == []
    assert len(reads) > 12
    assert not [p.name for p in out.rglob("*.tmp")]  # no temporary file left behind


def test_hub_link_and_ping(db: Database, settings: Settings, out: Path, httpserver: Any) -> None:
    httpserver.expect_request("/hub", method="POST").respond_with_data("", status=204)
    hub = httpserver.url_for("/hub")
    add_posts(db, post_row(1))
    config = configure(settings, websub_hub=hub)
    report = build_feeds(db, config, out)
    assert report.hub_error is None
    for name in XML_FILES:
        links = {(link.rel, link.href) for link in parse(out / name).feed.links}
        assert ("hub", hub) in links
    assert f'<link href="{hub}" rel="hub"/>' in (out / "atom.xml").read_text(encoding="utf-8")
    assert f'<atom:link href="{hub}" rel="hub"/>' in (out / "feed.xml").read_text(encoding="utf-8")
    document = json.loads((out / "feed.json").read_text(encoding="utf-8"))
    assert document["hubs"] == [{"type": "WebSub", "url": hub}]
    pings = [request.form for request, _ in httpserver.log]
    assert {ping["hub.mode"] for ping in pings} == {"publish"}
    assert sorted(ping["hub.url"] for ping in pings) == sorted(report.urls)
    assert len(report.urls) == 9  # site, tag and author, three formats each
    httpserver.clear_log()
    build_feeds(db, config, out)
    assert httpserver.log == []  # nothing changed, nothing announced


def test_hub_ping_is_retried(db: Database, settings: Settings, out: Path, httpserver: Any) -> None:
    httpserver.expect_oneshot_request("/hub", method="POST").respond_with_data("", status=503)
    httpserver.expect_request("/hub", method="POST").respond_with_data("", status=202)
    add_posts(db, post_row(1, tags=[], authors=[]))
    config = configure(settings, websub_hub=httpserver.url_for("/hub"), http_retries=2)
    report = build_feeds(db, config, out)
    assert report.hub_error is None
    assert [response.status_code for _, response in httpserver.log] == [503, 202, 202, 202]


def test_failing_hub_is_reported_not_raised(
    db: Database, settings: Settings, out: Path, httpserver: Any
) -> None:
    def always_fails(request: Request) -> Response:
        return Response("down", status=500)

    httpserver.expect_request("/hub", method="POST").respond_with_handler(always_fails)
    add_posts(db, post_row(1, tags=[], authors=[]))
    config = configure(settings, websub_hub=httpserver.url_for("/hub"), http_retries=1)
    report = build_feeds(db, config, out)
    assert report.hub_error == (
        f"WebSub hub {httpserver.url_for('/hub')}: 3 of 3 pings failed (HTTP 500 after 1 retry)"
    )
    assert len(httpserver.log) == 6
    assert report.written == [""] and (out / "feed.xml").is_file()


def test_unreachable_hub_is_reported(db: Database, settings: Settings, out: Path) -> None:
    add_posts(db, post_row(1, tags=[], authors=[]))
    config = configure(settings, websub_hub="http://127.0.0.1:9/hub", http_retries=0)
    report = build_feeds(db, config, out)
    assert report.hub_error == (
        "WebSub hub http://127.0.0.1:9/hub: 3 of 3 pings failed (could not connect)"
    )

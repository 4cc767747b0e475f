"""Posts from a real (local) JSON Feed server into a real database: text hygiene at
ingest (controls, bidi overrides, markup in titles), only http(s) links published, and
the site's own links following SITE_URL when it changes after the first ingest."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser
from pytest_httpserver import HTTPServer

from pipeline.digest.entries import entries
from pipeline.digest.render import render_digest
from pipeline.feeds.build import build_feeds
from pipeline.ingest import ingest
from pipeline.settings import Settings, load_settings
from pipeline.storage import Database
from pipeline.storage.posts import post_json, published_posts

DIRTY = "Fish & chips <b>not bold</b>\u0007\u202e\ufffe\uffff\u2066x\u0000"
ITEMS = [
    {
        "id": "urn:dirty",
        "url": "https://partner.example/dirty",
        "title": DIRTY,
        "content_html": "<p>Body\u0001 text\u202d.</p>",
        "summary": "A summary\u0008 with\u202e bidi.",
        "authors": [{"name": "Ann\u0000 Lee\u202e"}],
        "date_published": "2026-11-02T09:00:00Z",
    },
    {
        "id": "urn:script",
        "url": "javascript:alert(1)",
        "title": "Scripted link",
        "content_html": "<p>S.</p>",
        "date_published": "2026-11-01T09:00:00Z",
    },
    {
        "id": "urn:data",
        "url": "data:text/html,<script>alert(1)</script>",
        "title": "Data link",
        "content_html": "<p>D.</p>",
        "date_published": "2026-10-31T09:00:00Z",
    },
]
INVISIBLE = set("\u0000\u0001\u0007\u0008\u202d\u202e\u2066\ufffe\uffff")


def configured(settings: Settings, url: str, site_url: str) -> Settings:
    return load_settings(
        database_url=settings.database_url,
        data_dir=settings.data_dir,
        site_url=site_url,
        sources=[{"name": "partner", "kind": "feed", "url": url}],
        http_timeout=2,
        http_retries=0,
    )


def serve_feed(httpserver: HTTPServer) -> str:
    document = {"version": "https://jsonfeed.org/version/1.1", "title": "P", "items": ITEMS}
    httpserver.expect_request("/feed.json").respond_with_data(
        json.dumps(document), content_type="application/feed+json"
    )
    return httpserver.url_for("/feed.json")


def test_titles_authors_and_summaries_are_clean_plain_text(
    db: Database, settings: Settings, httpserver: HTTPServer, tmp_path: Path
) -> None:
    config = configured(settings, serve_feed(httpserver), "https://blog.example.org")
    [report] = ingest(db, config)
    assert report.failed == 0, report.errors
    posts = {post.guid: post for post in published_posts(db)}
    dirty = posts["urn:dirty"]
    assert dirty.title == "Fish & chips not boldx"
    assert dirty.authors == ["Ann Lee"]
    assert dirty.summary == "A summary with bidi."
    assert not INVISIBLE & set(dirty.content_html)
    # The digest renders (one such character used to stop it) and the feeds carry the
    # title as plain text, with no markup for a validator to warn about.
    digest = render_digest(config, list(posts.values()))
    assert "Fish &amp; chips not boldx" in digest.html
    build_feeds(db, config, tmp_path / "public")
    atom = (tmp_path / "public" / "atom.xml").read_text(encoding="utf-8")
    assert "&lt;b&gt;" not in atom and "<b>" not in atom.split("<content")[0]
    parsed = feedparser.parse(atom)
    assert not parsed.bozo
    assert "Fish & chips not boldx" in [entry.title for entry in parsed.entries]


def test_only_web_links_are_published_and_own_links_follow_site_url(
    db: Database, settings: Settings, httpserver: HTTPServer, tmp_path: Path
) -> None:
    url = serve_feed(httpserver)
    first = configured(settings, url, "http://127.0.0.1:8000")
    ingest(db, first)
    build_feeds(db, first, tmp_path / "public")
    moved = configured(settings, url, "https://news.example.org/blog")
    ingest(db, moved)  # unchanged posts: nothing is rewritten, links still move
    build_feeds(db, moved, tmp_path / "public")
    posts = published_posts(db)
    published = {post.title: post_json(post, moved.base_url)["url"] for post in posts}
    assert published == {
        "Fish & chips not boldx": "https://partner.example/dirty",
        "Scripted link": "https://news.example.org/blog/posts/scripted-link",
        "Data link": "https://news.example.org/blog/posts/data-link",
    }
    for name in ("feed.xml", "atom.xml"):
        links = {e.title: e.link for e in feedparser.parse(tmp_path / "public" / name).entries}
        assert links == published, name
    document = json.loads((tmp_path / "public" / "feed.json").read_text(encoding="utf-8"))
    assert {item["title"]: item["url"] for item in document["items"]} == published
    shown = entries(posts, zone=moved.zone, base_url=moved.base_url, summary_length=0)
    assert {entry.title: entry.url for entry in shown} == published

"""Ingest from remote sources end to end: a real HTTP server, a real database."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

from cli_runner import NEWSLETTER, clean_environment
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from werkzeug import Request, Response

from pipeline.ingest import ingest
from pipeline.settings import Settings, load_settings
from pipeline.storage import Database
from pipeline.storage.models import Post, SourceState
from pipeline.storage.posts import published_posts

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Partner</title><link>https://partner.example/</link>
<description>d</description>
<item><title>Dated &amp; linked</title><link>/a</link><guid>urn:a</guid>
<pubDate>Mon, 02 Nov 2026 09:00:00 +0000</pubDate><description>&lt;p&gt;A&lt;/p&gt;</description>
</item>
<item><title>Undated</title><link>https://partner.example/b</link><description>B</description></item>
</channel></rss>"""


def feed_settings(settings: Settings, url: str) -> Settings:
    return load_settings(
        database_url=settings.database_url,
        data_dir=settings.data_dir,
        sources=[{"name": "partner", "kind": "feed", "url": url}],
        http_timeout=2,
        http_retries=1,
    )


def test_feed_ingest_then_unchanged_feed_costs_one_304(
    db: Database, settings: Settings, httpserver: HTTPServer
) -> None:
    def serve(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304)
        return Response(RSS, content_type="application/rss+xml", headers={"ETag": '"v1"'})

    httpserver.expect_request("/feed.xml").respond_with_handler(serve)
    config = feed_settings(settings, httpserver.url_for("/feed.xml"))
    [first] = ingest(db, config)
    assert (first.new, first.failed) == (2, 0)
    posts = {post.title: post for post in published_posts(db)}
    # A relative link resolves against the document's own URL (RFC 3986 base URI).
    assert posts["Dated & linked"].url == httpserver.url_for("/a")
    assert posts["Dated & linked"].guid == "urn:a"
    assert posts["Undated"].guid == "https://partner.example/b"
    [second] = ingest(db, config)
    assert (second.new, second.updated, second.failed) == (0, 0, 0)
    assert len(httpserver.log) == 2
    assert httpserver.log[1][0].headers.get("If-None-Match") == '"v1"'


def test_unreachable_feed_fails_only_its_source(
    db: Database, settings: Settings, httpserver: HTTPServer, posts_dir: Path
) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data("nope", status=500)
    config = load_settings(
        database_url=settings.database_url,
        sources=[
            {"name": "broken", "kind": "feed", "url": httpserver.url_for("/feed.xml")},
            settings.sources[0].model_dump(),
        ],
        http_timeout=2,
        http_retries=1,
    )
    (posts_dir / "p.md").write_text("---\ntitle: Local\n---\nBody\n")
    broken, local = ingest(db, config)
    assert broken.failed == 1
    assert broken.errors == [f"{httpserver.url_for('/feed.xml')}: HTTP 500 after 1 retry"]
    assert (local.new, local.failed) == (1, 0)


def test_two_processes_ingesting_one_feed_at_once_store_each_post_once(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    """Two `serve` processes start together and each ingests at once: the feed answers both
    only when both have asked, so both store the same posts at the same moment."""
    items = "".join(
        f"<item><title>Post {n}</title><link>https://partner.example/{n}</link>"
        f"<guid>urn:{n}</guid><pubDate>Mon, 02 Nov 2026 09:00:00 +0000</pubDate></item>"
        for n in range(300)
    )
    feed = RSS.split("<item>")[0] + items + "</channel></rss>"
    both_asked = threading.Barrier(2)

    def serve(_request: Request) -> Response:
        both_asked.wait(timeout=30)
        return Response(feed, content_type="application/rss+xml")

    server = HTTPServer(threaded=True)
    server.expect_request("/feed.xml").respond_with_handler(serve)
    server.start()
    try:
        source = [{"name": "partner", "kind": "feed", "url": server.url_for("/feed.xml")}]
        environment = clean_environment(DATABASE_URL=database_url, SOURCES=json.dumps(source))
        commands = [
            subprocess.Popen(
                [NEWSLETTER, "ingest"],
                cwd=tmp_path,
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        said = [command.communicate(timeout=120) for command in commands]
    finally:
        server.stop()
    assert [command.returncode for command in commands] == [0, 0], said
    summaries = [line for out, _ in said for line in out.splitlines() if line.startswith("partner")]
    assert sorted(summaries) == [
        "partner: 0 new, 0 updated, 300 unchanged, 0 removed, 0 failed",
        "partner: 300 new, 0 updated, 0 unchanged, 0 removed, 0 failed",
    ]
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Post)) == 300
        assert session.scalars(select(SourceState.name)).all() == ["partner"]

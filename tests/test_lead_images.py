"""Lead images, from a real (local) feed server and a real folder into a real database:
an enclosure or media:content, else the first image of the post; shown in RSS, Atom and
JSON Feed and on the post's digest card with its alt text. JSON Feed icons from settings."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser
from pytest_httpserver import HTTPServer

from pipeline.digest.render import render_digest
from pipeline.feeds.build import build_feeds
from pipeline.ingest import ingest
from pipeline.settings import Settings, load_settings
from pipeline.storage import Database
from pipeline.storage.posts import published_posts

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>P</title>
<link>https://partner.example/</link><description>d</description>
<item><title>Enclosed</title><link>https://partner.example/a</link><guid>urn:a</guid>
<pubDate>Mon, 02 Nov 2026 09:00:00 +0000</pubDate><description>A.</description>
<enclosure url="https://partner.example/a.png" length="10" type="image/png"/></item>
<item><title>Media</title><link>https://partner.example/b</link><guid>urn:b</guid>
<pubDate>Sun, 01 Nov 2026 09:00:00 +0000</pubDate><description>B.</description>
<media:content url="https://partner.example/b.jpg" medium="image"/></item>
</channel></rss>"""
MARKDOWN = "---\ntitle: {title}\ndate: 2026-10-0{day}T09:00:00Z\nauthor: Ann Lee\n---\n{body}\n"


def test_lead_images_reach_feeds_and_digest_cards(
    db: Database, settings: Settings, httpserver: HTTPServer, posts_dir: Path, tmp_path: Path
) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        RSS, content_type="application/rss+xml"
    )
    (posts_dir / "pictured.md").write_text(
        MARKDOWN.format(
            title="Pictured",
            day=2,
            body='Intro.\n\n<img src="javascript:x" alt="no">'
            ' <img src="https://blog.example.org/m.webp" alt="A map of the ward">',
        ),
        encoding="utf-8",
    )
    (posts_dir / "plain.md").write_text(
        MARKDOWN.format(title="Plain", day=1, body="No picture."), encoding="utf-8"
    )
    config = load_settings(
        database_url=settings.database_url,
        data_dir=settings.data_dir,
        site_url="https://blog.example.org",
        sources=[
            {"name": "posts", "kind": "directory", "path": str(posts_dir)},
            {"name": "partner", "kind": "feed", "url": httpserver.url_for("/feed.xml")},
        ],
        site_icon="https://blog.example.org/icon-512.png",
        site_favicon="https://blog.example.org/favicon-64.png",
        http_retries=0,
    )
    assert all(report.failed == 0 for report in ingest(db, config))
    images = {post.title: (post.image, post.image_alt) for post in published_posts(db)}
    assert images == {
        "Enclosed": ("https://partner.example/a.png", ""),
        "Media": ("https://partner.example/b.jpg", ""),
        "Pictured": ("https://blog.example.org/m.webp", "A map of the ward"),
        "Plain": (None, None),
    }
    out = tmp_path / "public"
    build_feeds(db, config, out)
    rss = feedparser.parse(str(out / "feed.xml"))
    atom = feedparser.parse(str(out / "atom.xml"))
    for parsed in (rss, atom):
        assert not parsed.bozo
        shown = {e.title: [x.href for x in e.get("enclosures", [])] for e in parsed.entries}
        assert shown == {title: [url] if url else [] for title, (url, _) in images.items()}
    document = json.loads((out / "feed.json").read_text(encoding="utf-8"))
    assert {item["title"]: item.get("image") for item in document["items"]} == {
        title: url for title, (url, _) in images.items()
    }
    assert document["icon"] == "https://blog.example.org/icon-512.png"
    assert document["favicon"] == "https://blog.example.org/favicon-64.png"
    assert atom.feed.icon == "https://blog.example.org/favicon-64.png"
    digest = render_digest(config, published_posts(db)).html
    assert '<img src="https://blog.example.org/m.webp" alt="A map of the ward"' in digest
    assert '<img src="https://partner.example/a.png" alt=""' in digest
    assert digest.count("<img ") == 3

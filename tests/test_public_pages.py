"""The public pages over real HTTP (uvicorn, a real database, posts from a real folder):
all-posts pages reaching every post, tag and author pages where the feeds point, a
subscribe box on post pages, valid `<time datetime>`, and every page valid HTML5
(html5lib's strict parser)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from helpers import Tags, running, valid_page

from pipeline.feeds.build import build_feeds
from pipeline.ingest import ingest
from pipeline.settings import Settings, load_settings
from pipeline.storage import Database
from pipeline.text import slugify
from pipeline.web import create_app
from pipeline.web.pages import PAGE_SIZE

POSTS = 45
START = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
# A valid global date and time string (HTML): to the second here, with an offset.


def write_posts(folder: Path) -> None:
    for number in range(POSTS):
        tags = "[Housing]" if number % 3 == 0 else "[Transport]"
        author = "Dr Ann Lee" if number % 2 else "Ann Lee"
        when = (START + timedelta(days=number, microseconds=123456)).isoformat()
        (folder / f"post-{number:02d}.md").write_text(
            f"---\ntitle: Post number {number}\ndate: {when}\nauthor: {author}\n"
            f"tags: {tags}\n---\nBody of post {number} & more.\n",
            encoding="utf-8",
        )
    (folder / "undated.txt").write_text("Undated thoughts\n\nBo Chen\n\nNo date here.\n")


@pytest.fixture
def site(settings: Settings, db: Database, posts_dir: Path) -> Settings:
    write_posts(posts_dir)
    ingest(db, settings)
    return settings


def post_links(page: str) -> list[str]:
    return [
        href
        for attrs in Tags(page).all("a")
        if (href := attrs.get("href") or "").startswith("/posts/")
    ]


def test_all_posts_pages_reach_every_post(site: Settings, db: Database) -> None:
    with running(create_app(site, db)) as base:
        home = valid_page(requests.get(base, timeout=10))
        assert "/posts" in [attrs.get("href") for attrs in Tags(home).all("a")]
        seen: list[str] = []
        path: str | None = "/posts"
        while path:
            page = valid_page(requests.get(base + path, timeout=10))
            seen += post_links(page)
            nexts = Tags(page).all("a", rel="next")
            path = nexts[0]["href"] if nexts else None
        assert len(seen) == len(set(seen)) == POSTS + 1
        assert len(post_links(valid_page(requests.get(f"{base}/posts", timeout=10)))) == PAGE_SIZE
        past_end = requests.get(f"{base}/posts?page=4", timeout=10)
        assert past_end.status_code == 404
        assert requests.get(f"{base}/posts?page=x", timeout=10).status_code == 404


def test_tag_and_author_pages_are_where_their_feeds_point(
    site: Settings, db: Database, tmp_path: Path
) -> None:
    build_feeds(db, site, tmp_path / "public")
    with running(create_app(site, db)) as base:
        for feed in ("tags/housing/feed.json", "authors/ann-lee/feed.json"):
            document = json.loads((tmp_path / "public" / feed).read_text(encoding="utf-8"))
            page = valid_page(
                requests.get(base + urlsplit(document["home_page_url"]).path, timeout=10)
            )
            assert len(post_links(page)) == min(len(document["items"]), PAGE_SIZE)
        # Honorifics do not split a person: every dated post is by the one Ann Lee.
        ann = valid_page(requests.get(f"{base}/authors/ann-lee?page=3", timeout=10))
        assert len(post_links(ann)) == POSTS - 2 * PAGE_SIZE
        assert requests.get(f"{base}/tags/nothing-here", timeout=10).status_code == 404


def test_post_page_has_a_subscribe_box_valid_times_and_a_canonical_link_from_site_url(
    site: Settings, db: Database
) -> None:
    moved = load_settings(
        **site.model_dump(include={"database_url", "data_dir"}), site_url="https://new.example.org/"
    )
    with running(create_app(moved, db)) as base:
        page = valid_page(requests.get(f"{base}/posts/post-07", timeout=10))
        assert Tags(page).all("form", action="/subscribe", method="post")
        [canonical] = Tags(page).all("link", rel="canonical")
        assert canonical["href"] == "https://new.example.org/posts/post-07"
        assert Tags(page).all("a", href="/tags/transport")
        assert Tags(page).all("a", href="/authors/ann-lee")
        undated = valid_page(requests.get(f"{base}/posts/undated-thoughts", timeout=10))
        assert not Tags(undated).all("time") and "Undated" in undated


def test_slugs_are_cut_at_a_word_boundary() -> None:
    title = "How the MSc Public Management course has helped me professionally: A graduate's year"
    whole, slug = slugify(title, max_length=1000), slugify(title)
    assert len(slug) <= 80 and whole.startswith(slug) and whole[len(slug)] == "-"
    assert slug.endswith("-graduate-s")

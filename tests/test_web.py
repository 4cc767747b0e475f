"""The public web app over real HTTP: a uvicorn server on a free loopback port, real
feed files in FEEDS_DIR and posts ingested from a folder into a real database."""

from __future__ import annotations

import http.client
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from helpers import Tags, post, running
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from pipeline.ingest import ingest
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.web import create_app

SITE = "https://blog.example.org"
RSS, ATOM, JSON_FEED = "application/rss+xml", "application/atom+xml", "application/feed+json"
FEED_FILES = {
    "feed.xml": RSS,
    "atom.xml": ATOM,
    "feed.json": JSON_FEED,
    "tags/policy/feed.xml": RSS,
    "tags/policy/atom.xml": ATOM,
    "authors/ann-lee/feed.json": JSON_FEED,
}
SECRET = "top secret, outside the feeds"


def rss(marker: str, items: int = 20) -> bytes:
    """A small valid RSS 2.0 feed, over GZipMiddleware's minimum size."""
    entries = "".join(
        f"<item><title>Item {n} {marker}</title><link>{SITE}/posts/{n}</link>"
        f"<guid>{SITE}/posts/{n}</guid></item>"
        for n in range(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>Blog</title><link>{SITE}/</link><description>{marker}</description>"
        f"{entries}</channel></rss>\n"
    ).encode()


def feed_bytes(name: str) -> bytes:
    if name.endswith("atom.xml"):
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
            f"<id>{SITE}/</id><title>Blog</title><updated>2026-10-01T09:00:00Z</updated></feed>\n"
        ).encode()
    if name.endswith(".json"):
        return b'{"version": "https://jsonfeed.org/version/1.1", "title": "Blog", "items": []}\n'
    return rss(name)


def replace_atomically(path: Path, content: bytes) -> None:
    """As the feed builder does: write a temp file beside the target, then os.replace."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(content)
    os.replace(temp, path)


@pytest.fixture
def feeds_dir(settings: Settings) -> Path:
    folder = settings.effective_feeds_dir
    for name in FEED_FILES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(folder / name, feed_bytes(name))
    return folder


@pytest.fixture
def site(settings: Settings, db: Database, posts_dir: Path, feeds_dir: Path) -> Iterator[str]:
    """The site with one published post, a draft and a removed post."""
    (posts_dir / "hello.md").write_text(
        post(
            "Hello & welcome",
            "First *para*.\n\nSecond <script>alert(1)</script>",
            "tags: [Policy, Local Data, <i>R&D</i>]\nsummary: A first note.\n",
        )
    )
    (posts_dir / "draft.md").write_text(post("Draft note", "Not yet.", "draft: true\n"))
    gone = posts_dir / "gone.md"
    gone.write_text(post("Gone note", "Withdrawn."))
    ingest(db, settings)
    gone.unlink()
    ingest(db, settings)
    with running(create_app(settings, db)) as base_url:
        yield base_url


def alternates(page: str) -> set[tuple[str | None, str | None]]:
    return {(link["type"], link["href"]) for link in Tags(page).all("link", rel="alternate")}


def raw_get(base_url: str, path: str) -> tuple[int, bytes]:
    """GET `path` exactly as written: no client normalises `..` or percent-escapes away."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_feeds_are_served_with_their_media_types_and_validators(site: str, feeds_dir: Path) -> None:
    for name, media_type in FEED_FILES.items():
        response = requests.get(f"{site}/{name}", timeout=10)
        assert response.status_code == 200, name
        assert response.headers["Content-Type"].split(";")[0] == media_type
        assert response.content == (feeds_dir / name).read_bytes()
        assert response.headers["Cache-Control"] == "public, max-age=300"
        assert response.headers["ETag"].startswith('W/"')
        assert response.headers["Last-Modified"].endswith(" GMT")
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_head_gives_the_headers_without_the_body(site: str) -> None:
    response = requests.head(f"{site}/feed.xml", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(RSS)
    assert "ETag" in response.headers and response.content == b""


def test_if_none_match_gives_304_until_the_feed_changes(site: str, feeds_dir: Path) -> None:
    url = f"{site}/feed.xml"
    first = requests.get(url, timeout=10)
    etag = first.headers["ETag"]

    def status(if_none_match: str) -> requests.Response:
        return requests.get(url, headers={"If-None-Match": if_none_match}, timeout=10)

    not_modified = status(etag)
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["ETag"] == etag
    assert not_modified.headers["Cache-Control"] == "public, max-age=300"
    assert status(f'"other", {etag}').status_code == 304
    assert status(etag.removeprefix("W/")).status_code == 304
    assert status("*").status_code == 304
    assert status('"other"').status_code == 200

    replace_atomically(feeds_dir / "feed.xml", rss("changed", items=21))
    changed = status(etag)
    assert changed.status_code == 200 and b"changed" in changed.content
    assert changed.headers["ETag"] != etag


def test_if_modified_since_gives_304_and_if_none_match_wins(site: str) -> None:
    url = f"{site}/atom.xml"
    modified = requests.get(url, timeout=10).headers["Last-Modified"]

    def status(**headers: str) -> int:
        names = {key.replace("_", "-"): value for key, value in headers.items()}
        return requests.get(url, headers=names, timeout=10).status_code

    assert status(If_Modified_Since=modified) == 304
    assert status(If_Modified_Since="Sat, 01 Jan 2000 00:00:00 GMT") == 200
    assert status(If_Modified_Since="not a date") == 200
    assert status(If_None_Match='"stale"', If_Modified_Since=modified) == 200


def test_gzip_when_the_reader_accepts_it(site: str, feeds_dir: Path) -> None:
    for path in ("/feed.xml", "/"):
        response = requests.get(f"{site}{path}", headers={"Accept-Encoding": "gzip"}, timeout=10)
        assert response.headers["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in response.headers["Vary"]
    plain = requests.get(f"{site}/feed.xml", headers={"Accept-Encoding": "identity"}, timeout=10)
    assert "Content-Encoding" not in plain.headers
    assert plain.content == (feeds_dir / "feed.xml").read_bytes()


def test_a_missing_feed_is_404_with_a_hint(site: str, feeds_dir: Path) -> None:
    (feeds_dir / "feed.json").unlink()
    for path in ("/feed.json", "/tags/unknown/feed.xml"):
        response = requests.get(f"{site}{path}", timeout=10)
        assert response.status_code == 404
        assert "newsletter feeds build" in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/tags/..%2f..%2fsecret/feed.xml",
        "/tags/..%2F..%2Fsecret/feed.xml",
        "/tags/../../secret/feed.xml",
        "/tags/%2e%2e/%2e%2e/secret/feed.xml",
        "/tags/%2e%2e/feed.xml",
        "/authors/..%5c..%5csecret/feed.xml",
        "/tags/policy/..%2f..%2f..%2fsecret%2ffeed.xml",
        "/tags/policy/notes.txt",
        "/tags/policy/feed.xml%00.txt",
        "/secret/feed.xml",
        "/notes.txt",
        "/static/..%2f..%2fvar%2fsecret%2ffeed.xml",
    ],
)
def test_nothing_but_feed_files_is_reachable(site: str, feeds_dir: Path, path: str) -> None:
    (feeds_dir.parent / "secret").mkdir()
    (feeds_dir.parent / "secret" / "feed.xml").write_text(SECRET)
    (feeds_dir / "notes.txt").write_text(SECRET)
    (feeds_dir / "tags" / "policy" / "notes.txt").write_text(SECRET)
    status, body = raw_get(site, path)
    assert status in (400, 404)
    assert SECRET.encode() not in body


def test_home_page_lists_posts_with_feed_autodiscovery_and_a_subscribe_form(site: str) -> None:
    response = requests.get(f"{site}/", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = response.text
    assert alternates(page) == {
        (RSS, f"{SITE}/feed.xml"),
        (ATOM, f"{SITE}/atom.xml"),
        (JSON_FEED, f"{SITE}/feed.json"),
    }
    tags = Tags(page)
    assert len(tags.all("form", method="post", action="/subscribe")) == 1
    assert tags.all("input", name="email", type="email")
    assert tags.all("meta", name="viewport")
    assert "Hello &amp; welcome" in page and "A first note." in page
    assert tags.all("a", href="/posts/hello")
    assert "Draft note" not in page and "Gone note" not in page
    [stylesheet] = tags.all("link", rel="stylesheet")
    css = requests.get(f"{site}{stylesheet['href']}", timeout=10)
    assert css.status_code == 200 and "prefers-color-scheme: dark" in css.text


def test_pages_carry_security_headers(site: str) -> None:
    headers = requests.get(f"{site}/posts/hello", timeout=10).headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "form-action 'self'" in policy and "frame-ancestors 'none'" in policy


def test_post_page_shows_the_sanitised_post_and_its_tag_feeds(site: str) -> None:
    response = requests.get(f"{site}/posts/hello", timeout=10)
    assert response.status_code == 200
    page = response.text
    assert "<h1>Hello &amp; welcome</h1>" in page
    assert "<em>para</em>" in page and "<script>" not in page
    assert ">R&amp;D</a>" in page and "<i>" not in page  # tags are plain text, escaped
    assert {
        (RSS, f"{SITE}/tags/policy/feed.xml"),
        (ATOM, f"{SITE}/tags/local-data/atom.xml"),
        (JSON_FEED, f"{SITE}/tags/r-d/feed.json"),
        (RSS, f"{SITE}/feed.xml"),
    } <= alternates(page)
    assert Tags(page).all("link", rel="canonical", href=f"{SITE}/posts/hello")


@pytest.mark.parametrize("path", ["/posts/draft", "/posts/gone", "/posts/nope", "/nope"])
def test_unknown_draft_and_removed_posts_are_404_pages(site: str, path: str) -> None:
    response = requests.get(f"{site}{path}", timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Page not found" in response.text
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_healthz_reports_the_database(site: str, settings: Settings, tmp_path: Path) -> None:
    response = requests.get(f"{site}/healthz", timeout=10)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    unreachable = create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    broken = Database(unreachable, sessionmaker(unreachable))
    with running(create_app(settings, broken)) as base_url:
        response = requests.get(f"{base_url}/healthz", timeout=10)
    assert (response.status_code, response.json()) == (503, {"status": "error"})


def test_readers_never_see_a_partial_feed_while_it_is_replaced(site: str, feeds_dir: Path) -> None:
    """Readers poll while the builder swaps versions in; every body is one whole version,
    and an ETag always stands for the same body."""
    versions = [rss(f"version {n}", items=400 + n) for n in range(8)]
    target = feeds_dir / "feed.xml"
    stop = threading.Event()
    seen: list[tuple[str, bytes]] = []
    failures: list[BaseException] = []

    def write() -> None:
        while not stop.is_set():
            for version in versions:
                replace_atomically(target, version)

    def read(encoding: str) -> None:
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    response = session.get(
                        f"{site}/feed.xml", headers={"Accept-Encoding": encoding}, timeout=10
                    )
                except requests.RequestException as exc:
                    failures.append(exc)
                    return
                seen.append((response.headers["ETag"], response.content))

    threads = [threading.Thread(target=write)] + [
        threading.Thread(target=read, args=(encoding,)) for encoding in ("gzip", "identity") * 2
    ]
    for thread in threads:
        thread.start()
    # Until readers have seen the feed change a few times (a loaded machine is slow).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not failures:
        if len(seen) >= 40 and len({body for _, body in list(seen)}) > 2:
            break
        time.sleep(0.1)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)

    assert not failures
    assert seen and all(body in versions for _, body in seen)
    assert len({body for _, body in seen}) > 1, "the feed was never seen to change"
    bodies_by_etag: dict[str, set[bytes]] = {}
    for etag, body in seen:
        bodies_by_etag.setdefault(etag, set()).add(body)
    assert all(len(bodies) == 1 for bodies in bodies_by_etag.values())


def test_slash_redirects_go_to_site_url_whatever_the_host(site: str) -> None:
    for path, target in (("/posts/anything/", "/posts/anything"), ("/admin", "/admin/")):
        answer = requests.get(
            f"{site}{path}?page=2",
            headers={"Host": "evil.example"},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 307, path
        assert answer.headers["Location"] == f"{SITE}{target}?page=2"
    assert (
        requests.get(f"{site}/nothing/here/", allow_redirects=False, timeout=10).status_code == 404
    )

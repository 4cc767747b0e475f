"""FeedSource against a real local HTTP server serving real-shaped RSS, Atom and JSON Feeds."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from pipeline.http import USER_AGENT
from pipeline.sources.base import Batch, SourceError
from pipeline.sources.feed import FeedSource
from pipeline.sources.http import http_session

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
RSS = "application/rss+xml; charset=UTF-8"


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with http_session(
        timeout=2, retries=2, max_bytes=10_000_000, deadline=30, backoff=0
    ) as session:
        yield session


def serve(httpserver: HTTPServer, fixture: str, content_type: str, **headers: str) -> str:
    """Serve a fixture at /feeds/<fixture> and return its URL."""
    path = f"/feeds/{fixture}"
    body = (FIXTURES / fixture).read_bytes()
    httpserver.expect_request(path).respond_with_data(
        body, content_type=content_type, headers=headers
    )
    return httpserver.url_for(path)


def read(url: str, session: requests.Session, state: dict[str, str] | None = None) -> Batch:
    return FeedSource("blog", url, session=session).read(state or {})


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_rss_2_0_maps_every_field(httpserver: HTTPServer, session: requests.Session) -> None:
    url = serve(httpserver, "rss20.xml", RSS)

    batch = read(url, session)

    assert batch.errors == []
    assert batch.present is None
    first = batch.entries[0]
    assert first.guid == "https://policy.example.ac.uk/?p=812"
    assert first.slug == "housing-planning-bill"
    assert first.title == "Housing & the new planning bill: what changes for councils"
    assert first.url == "https://policy.example.ac.uk/2024/05/housing-planning-bill/"
    assert "<h2>Three changes</h2>" in first.content_html
    assert first.summary.startswith("The bill moves plan-making power away")
    assert first.authors == ("Dr Amina Shah",)
    assert first.tags == ("Housing", "Planning")
    assert first.published == utc(2024, 5, 7, 8, 30)
    assert first.updated is None
    assert first.origin == url


def test_undated_entry_with_relative_link(
    httpserver: HTTPServer, session: requests.Session
) -> None:
    url = serve(httpserver, "rss20.xml", RSS)

    second = read(url, session).entries[1]

    assert second.url == httpserver.url_for("/2024/04/spring-seminar-notes/")
    assert second.guid == second.url  # no <guid>: the link identifies the post
    assert second.slug == "spring-seminar-notes"
    assert second.published is None
    assert second.updated is None
    assert second.content_html.startswith("<p>Short notes")
    assert second.summary is None  # the description became the content


def test_rss_1_0_rdf(httpserver: HTTPServer, session: requests.Session) -> None:
    url = serve(httpserver, "rss10.rdf", "application/rdf+xml")

    batch = read(url, session)

    assert batch.errors == []
    assert [e.guid for e in batch.entries] == [
        "https://econ.example.org/papers/2024-07.html",
        "https://econ.example.org/papers/2024-06.html",
    ]
    paper = batch.entries[0]
    assert paper.slug == "2024-07"
    assert paper.authors == ("Maria Okafor",)
    assert paper.tags == ("Labour markets",)
    assert paper.content_html == "<p>We estimate employment effects across <b>regions</b>.</p>"
    assert paper.published == utc(2024, 6, 3, 12)  # dc:date, its only date
    assert batch.entries[1].published == utc(2024, 5, 20)


def test_rss_0_91(httpserver: HTTPServer, session: requests.Session) -> None:
    url = serve(httpserver, "rss091.xml", "text/xml")

    batch = read(url, session)

    assert batch.errors == []
    assert [(e.title, e.slug, e.published) for e in batch.entries] == [
        ("New chair in public law", "new-chair", None),
        ("Library hours over the holidays", "library-hours", None),
    ]
    assert batch.entries[0].guid == "http://news.example.edu/items/new-chair.html"
    assert batch.entries[0].content_html == "The Faculty welcomes its new chair."


def test_atom_resolves_xml_base_and_relative_links(
    httpserver: HTTPServer, session: requests.Session
) -> None:
    url = serve(httpserver, "atom.xml", "application/atom+xml")

    carbon, heat, adaptation = read(url, session).entries

    assert carbon.url == httpserver.url_for("/blog/posts/carbon-border-taxes/")
    assert f'href="{httpserver.url_for("/blog/figures/cbam.png")}"' in carbon.content_html
    assert heat.url == httpserver.url_for("/archive/2023/heat-pumps-and-the-grid")
    assert adaptation.url == httpserver.url_for("/blog/posts/adaptation-finance.html")
    assert adaptation.slug == "adaptation-finance"


def test_atom_fields(httpserver: HTTPServer, session: requests.Session) -> None:
    url = serve(httpserver, "atom.xml", "application/atom+xml")

    carbon, heat, adaptation = read(url, session).entries

    assert carbon.guid == "tag:climate.example.org,2024:post-41"
    assert carbon.title == "Carbon border taxes explained"  # an HTML title becomes plain text
    assert carbon.authors == ("Sofia Lindqvist", "Ravi Menon")
    assert carbon.tags == ("Trade", "carbon")
    assert carbon.summary == "<p>How CBAM works &amp; who pays.</p>"  # type="text", escaped
    assert carbon.published == utc(2024, 6, 10, 7)
    assert carbon.updated == utc(2024, 6, 10, 12)
    # Plain-text content becomes escaped paragraphs; the feed's author is inherited.
    assert heat.content_html == (
        "<p>Heat pumps add winter load.</p>\n"
        "<p>Grid operators &amp; suppliers must plan for it.</p>"
    )
    assert heat.authors == ("Climate Policy Lab",)
    assert heat.published == heat.updated == utc(2023, 11, 2, 8, 15)  # <updated> is its only date
    assert heat.summary is None
    assert adaptation.content_html == "<p>Who pays for <strong>adaptation</strong>?</p>"


def test_json_feed_1_1(httpserver: HTTPServer, session: requests.Session) -> None:
    url = serve(httpserver, "jsonfeed-1.1.json", "application/feed+json")

    batch = read(url, session)

    assert batch.errors == []
    lists, paper, note = batch.entries
    assert lists.guid == "https://heu.example.org/p/waiting-lists"
    assert lists.url == httpserver.url_for("/p/waiting-lists/")
    assert lists.slug == "waiting-lists"
    assert lists.title == "Waiting lists &amp; what drives them"
    assert lists.content_html == "<p>Waiting lists grew by <em>40%</em>.</p>"
    assert lists.summary == "Why lists grow &amp; how they shrink."
    assert lists.authors == ("Hannah Cole", "Joe Park")
    assert lists.tags == ("NHS", "waiting lists")
    assert lists.published == utc(2024, 3, 1, 7)
    assert lists.updated == utc(2024, 3, 2, 10, 30)
    assert paper.url == "https://journal.example.com/articles/10.1000/xyz"  # external_url
    assert (
        paper.content_html == "<p>Our paper is out.</p>\n<p>Read it &lt;free&gt; for 30 days.</p>"
    )
    assert paper.authors == ("Health Economics Unit",)  # the feed's authors
    assert note.guid == "3"
    assert note.url == httpserver.url_for("/feeds/notes/undated")
    assert note.published is None


@pytest.mark.parametrize("content_type", ["application/json", "text/plain; charset=utf-8"])
def test_json_feed_1_0(
    httpserver: HTTPServer, session: requests.Session, content_type: str
) -> None:
    url = serve(httpserver, "jsonfeed-1.0.json", content_type)

    visas, backlog = read(url, session).entries

    assert visas.guid == "note-52"
    assert visas.authors == ("Ana Ribeiro",)
    assert visas.content_html == "<p>Three routes account for most grants.</p>"
    assert visas.published == utc(2024, 1, 20, 17)
    assert backlog.authors == ("Migration Observatory",)


def test_bad_json_feed_items_are_reported_one_by_one(
    httpserver: HTTPServer, session: requests.Session
) -> None:
    items = [
        {"id": "ok", "url": "/ok/", "content_html": "<p>Fine.</p>"},
        "not an item",
        {"id": "bad-title", "title": {"text": "x"}, "content_text": "x"},
        {"id": "empty"},
    ]
    document = {"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": items}
    httpserver.expect_request("/feed.json").respond_with_json(document)
    url = httpserver.url_for("/feed.json")

    batch = read(url, session)

    assert [e.guid for e in batch.entries] == ["ok"]
    assert batch.errors == [
        f"{url} entry #2: item is not a JSON object",
        f"{url} entry bad-title: title is not a string",
        f"{url} entry empty: empty entry (no title, link or content)",
    ]


def test_malformed_feed_keeps_the_entries_it_could_read(
    httpserver: HTTPServer, session: requests.Session
) -> None:
    url = serve(httpserver, "malformed.xml", RSS)

    batch = read(url, session)

    assert [e.slug for e in batch.entries] == ["first-post", "second-post"]
    assert (
        batch.errors[-1] == f"{url}: malformed feed (no element found at line 22), kept 2 entries"
    )


def test_malformed_feed_without_entries_is_a_source_error(
    httpserver: HTTPServer, session: requests.Session
) -> None:
    body = b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>Cut</title><link>'
    httpserver.expect_request("/feed").respond_with_data(body, content_type=RSS)
    url = httpserver.url_for("/feed")

    with pytest.raises(
        SourceError, match=r"^\S+/feed: malformed feed \(no element found at line 2\)$"
    ):
        read(url, session)


@pytest.mark.parametrize("fixture", ["declared-utf8-is-cp1252.xml", "declared-latin1-is-utf8.xml"])
def test_wrong_declared_encoding_still_reads(
    httpserver: HTTPServer, session: requests.Session, fixture: str
) -> None:
    url = serve(httpserver, fixture, "application/rss+xml")

    batch = read(url, session)

    assert batch.errors == []
    [entry] = batch.entries
    assert entry.title == "Réforme des retraites : où en est-on ?"
    assert entry.content_html == "L\u2019âge légal passe à 64 ans."


def test_html_page_is_not_a_feed(httpserver: HTTPServer, session: requests.Session) -> None:
    url = serve(httpserver, "not-a-feed.html", "text/html; charset=UTF-8")

    with pytest.raises(SourceError) as raised:
        read(url, session)

    assert str(raised.value) == f"{url}: not a feed (got an HTML page)"


def test_invalid_json_is_not_a_feed(httpserver: HTTPServer, session: requests.Session) -> None:
    httpserver.expect_request("/feed.json").respond_with_data(
        b'{"version": "https://jsonfeed.org/version/1.1", "items": [',
        content_type="application/json",
    )

    with pytest.raises(SourceError, match=r"not a feed \(invalid JSON: Expecting value"):
        read(httpserver.url_for("/feed.json"), session)


def test_duplicate_ids_are_one_post(httpserver: HTTPServer, session: requests.Session) -> None:
    url = serve(httpserver, "duplicates.xml", RSS)

    batch = read(url, session)

    assert [(e.guid, e.title) for e in batch.entries] == [
        ("budget-2024", "Budget analysis (updated)"),
        ("spring-2024", "Spring statement"),
    ]
    assert batch.errors == []


def test_unchanged_feed_costs_one_conditional_request(
    httpserver: HTTPServer, session: requests.Session
) -> None:
    etag, modified = '"v1-5f3a"', "Tue, 07 May 2024 08:45:12 GMT"
    url = serve(httpserver, "rss20.xml", RSS, ETag=etag, **{"Last-Modified": modified})
    first = read(url, session)
    assert first.state == {"etag": etag, "last_modified": modified}
    httpserver.clear()
    httpserver.expect_request("/feeds/rss20.xml").respond_with_data("", status=304)

    second = read(url, session, first.state)

    assert second.entries == [] and second.errors == []
    assert second.state == first.state
    [(request, _)] = httpserver.log
    assert request.headers["If-None-Match"] == etag
    assert request.headers["If-Modified-Since"] == modified
    assert request.headers["User-Agent"] == USER_AGENT


def test_server_error_is_retried(httpserver: HTTPServer, session: requests.Session) -> None:
    httpserver.expect_oneshot_request("/feeds/rss20.xml").respond_with_data("busy", status=500)
    url = serve(httpserver, "rss20.xml", RSS)

    batch = read(url, session)

    assert len(batch.entries) == 2
    assert [response.status_code for _, response in httpserver.log] == [500, 200]


def test_rate_limit_is_retried_after_the_server_says(
    httpserver: HTTPServer, session: requests.Session
) -> None:
    httpserver.expect_oneshot_request("/feeds/rss20.xml").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "0"}
    )
    url = serve(httpserver, "rss20.xml", RSS)

    assert len(read(url, session).entries) == 2
    assert len(httpserver.log) == 2


def test_persistent_server_error_is_a_source_error(
    httpserver: HTTPServer, session: requests.Session
) -> None:
    httpserver.expect_request("/feed").respond_with_data("down", status=500)
    url = httpserver.url_for("/feed")

    with pytest.raises(SourceError) as raised:
        read(url, session)

    assert str(raised.value) == f"{url}: HTTP 500 after 2 retries"
    assert len(httpserver.log) == 3


def test_missing_feed_is_not_retried(httpserver: HTTPServer, session: requests.Session) -> None:
    httpserver.expect_request("/feed").respond_with_data("gone", status=404)
    url = httpserver.url_for("/feed")

    with pytest.raises(SourceError) as raised:
        read(url, session)

    assert str(raised.value) == f"{url}: HTTP 404"
    assert len(httpserver.log) == 1


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A socket that accepts connections (the kernel completes them) and never answers."""
    with socket.create_server(("127.0.0.1", 0), backlog=8) as server:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/feed"


def test_server_that_never_answers_times_out(silent_server: str) -> None:
    session = http_session(timeout=0.5, retries=1, max_bytes=10_000_000, deadline=30, backoff=0)
    with session, pytest.raises(SourceError) as raised:
        read(silent_server, session)

    assert str(raised.value) == f"{silent_server}: timed out after 0.5s"


def test_refused_connection_is_a_source_error(session: requests.Session) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
    url = f"http://127.0.0.1:{port}/feed"

    with pytest.raises(SourceError) as raised:
        read(url, session)

    assert str(raised.value) == f"{url}: connection refused"


def test_invalid_url_is_a_source_error(session: requests.Session) -> None:
    with pytest.raises(SourceError, match=r"^feed\.example\.org/rss: invalid URL$"):
        read("feed.example.org/rss", session)


def test_empty_feed_is_an_empty_batch(httpserver: HTTPServer, session: requests.Session) -> None:
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "New", "items": []})
    httpserver.expect_request("/feed.json").respond_with_data(body, content_type="application/json")

    batch = read(httpserver.url_for("/feed.json"), session)

    assert batch.entries == [] and batch.errors == []


FIXTURE_BODIES = [path.read_bytes() for path in sorted(FIXTURES.glob("*")) if path.is_file()]


@st.composite
def damaged_bodies(draw: st.DrawFn) -> bytes:
    """A fixture cut short and perhaps with a stretch of bytes overwritten."""
    body = draw(st.sampled_from(FIXTURE_BODIES))
    body = body[: draw(st.integers(0, len(body)))]
    at = draw(st.integers(0, len(body)))
    return body[:at] + draw(st.binary(max_size=16)) + body[at + 16 :]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=damaged_bodies() | st.binary(max_size=200))
def test_any_body_gives_a_batch_or_a_one_line_source_error(
    httpserver: HTTPServer, session: requests.Session, body: bytes
) -> None:
    httpserver.clear()
    httpserver.expect_request("/feed").respond_with_data(body, content_type="application/xml")
    url = httpserver.url_for("/feed")

    try:
        batch = read(url, session)
    except SourceError as exc:
        lines = [str(exc)]
    else:
        lines = batch.errors
        assert all(entry.guid and entry.slug for entry in batch.entries)
    assert all(line.startswith(url) and "\n" not in line for line in lines)

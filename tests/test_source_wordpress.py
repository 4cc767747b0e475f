"""WordPressSource against a real local HTTP server answering like the WordPress REST API."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pipeline.sources.base import SourceError
from pipeline.sources.http import http_session
from pipeline.sources.wordpress import WordPressSource

POST = json.loads(
    (Path(__file__).parent / "fixtures" / "feeds" / "wordpress-post.json").read_text()
)
POSTS_PATH = "/wp-json/wp/v2/posts"


class FakeWordPress:
    """The posts endpoint as WordPress serves it: `modified_after`, `orderby`, `_fields`,
    `_embed` and paging with X-WP-Total / X-WP-TotalPages. Pages hold two posts (WordPress
    allows up to 100) so that a handful of posts spans several pages."""

    page_size = 2

    def __init__(self, httpserver: HTTPServer) -> None:
        self.base = httpserver.url_for("").rstrip("/")
        self.posts: dict[int, dict[str, Any]] = {}
        self.listing_fails = False
        httpserver.expect_request(POSTS_PATH).respond_with_handler(self.handle)

    def publish(self, post_id: int, slug: str, modified_gmt: str) -> dict[str, Any]:
        post = copy.deepcopy(POST)
        link = f"{self.base}/2024/05/{slug}/"
        post.update(
            id=post_id,
            slug=slug,
            link=link,
            guid={"rendered": f"{self.base}/?p={post_id}"},
            title={"rendered": slug.replace("-", " ").title()},
            modified_gmt=modified_gmt,
            modified=modified_gmt,
        )
        self.posts[post_id] = post
        return post

    def handle(self, request: Request) -> Response:
        args = request.args
        if "_fields" in args and self.listing_fails:
            return Response("database error", status=500)
        posts = sorted(self.posts.values(), key=lambda p: (p["date_gmt"], p["id"]), reverse=True)
        if args.get("orderby") == "modified":
            posts.sort(key=lambda p: (p["modified_gmt"], p["id"]), reverse=args["order"] == "desc")
        if "modified_after" in args:
            after = datetime.fromisoformat(args["modified_after"])
            posts = [p for p in posts if _gmt(p["modified_gmt"]) > after]
        if "_fields" in args:
            posts = [{key: p[key] for key in args["_fields"].split(",")} for p in posts]
        elif "_embed" not in args:
            posts = [{k: v for k, v in p.items() if k != "_embedded"} for p in posts]
        pages = max(1, math.ceil(len(posts) / self.page_size))
        page = int(args.get("page", "1"))
        if page > pages:
            error = {"code": "rest_post_invalid_page_number", "data": {"status": 400}}
            return Response(json.dumps(error), status=400, content_type="application/json")
        return Response(
            json.dumps(posts[(page - 1) * self.page_size : page * self.page_size]),
            content_type="application/json; charset=UTF-8",
            headers={"X-WP-Total": str(len(posts)), "X-WP-TotalPages": str(pages)},
        )


def _gmt(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with http_session(
        timeout=2, retries=2, max_bytes=10_000_000, deadline=30, backoff=0
    ) as session:
        yield session


@pytest.fixture
def site(httpserver: HTTPServer) -> FakeWordPress:
    site = FakeWordPress(httpserver)
    site.publish(812, "housing-planning-bill", "2024-05-08T10:02:41")
    site.publish(815, "rents-and-wages", "2024-05-09T08:00:00")
    site.publish(820, "council-budgets", "2024-05-10T16:30:00")
    return site


def source(url: str, session: requests.Session) -> WordPressSource:
    return WordPressSource("policy", url, session=session)


def post_queries(httpserver: HTTPServer) -> list[dict[str, str]]:
    return [dict(request.args) for request, _ in httpserver.log if "_embed" in request.args]


def test_reads_every_page_with_embedded_authors_and_terms(
    httpserver: HTTPServer, site: FakeWordPress, session: requests.Session
) -> None:
    batch = source(site.base + "/", session).read({})

    assert batch.errors == []
    assert [e.slug for e in batch.entries] == [
        "housing-planning-bill",
        "rents-and-wages",
        "council-budgets",
    ]
    first = batch.entries[0]
    assert first.guid == f"{site.base}/?p=812"
    assert first.url == f"{site.base}/2024/05/housing-planning-bill/"
    assert first.title == "Housing Planning Bill"
    assert first.content_html.strip().startswith("<p>The bill moves plan-making power")
    assert first.summary.startswith("<p>The bill moves plan-making power away")
    assert first.authors == ("Dr Amina Shah",)
    assert first.tags == ("Housing & Planning", "councils", "local government")
    assert first.published == datetime(2024, 5, 7, 8, 30, tzinfo=UTC)
    assert first.updated == datetime(2024, 5, 8, 10, 2, 41, tzinfo=UTC)
    assert first.origin == site.base
    assert [q["page"] for q in post_queries(httpserver)] == ["1", "2"]
    assert post_queries(httpserver)[0] == {
        "_embed": "1",
        "per_page": "100",
        "page": "1",
        "orderby": "modified",
        "order": "asc",
    }
    assert batch.state == {"cursor": "2024-05-10T16:30:00+00:00"}


def test_title_is_kept_as_rendered(
    httpserver: HTTPServer, site: FakeWordPress, session: requests.Session
) -> None:
    site.posts.clear()
    site.posts[812] = copy.deepcopy(POST)

    [entry] = source(site.base, session).read({}).entries

    assert entry.title == "Housing & the new planning bill"  # rendered HTML becomes plain text


def test_present_lists_every_live_post(
    httpserver: HTTPServer, site: FakeWordPress, session: requests.Session
) -> None:
    batch = source(site.base, session).read({})

    assert batch.present == {e.guid for e in batch.entries}
    listing = [r.args for r, _ in httpserver.log if "_fields" in r.args]
    assert [a["page"] for a in listing] == ["1", "2"]
    assert listing[0]["_fields"] == "id,guid,link,slug"


def test_second_run_fetches_only_changed_posts(
    httpserver: HTTPServer, site: FakeWordPress, session: requests.Session
) -> None:
    wordpress = source(site.base, session)
    first = wordpress.read({})
    site.posts[815]["title"] = {"rendered": "Rents and wages, revised"}
    site.posts[815]["modified_gmt"] = "2024-05-11T09:00:00"
    httpserver.clear_log()

    second = wordpress.read(first.state)

    assert [(e.slug, e.title) for e in second.entries] == [
        ("rents-and-wages", "Rents and wages, revised")
    ]
    assert post_queries(httpserver)[0]["modified_after"] == "2024-05-10T16:30:00+00:00"
    assert second.state == {"cursor": "2024-05-11T09:00:00+00:00"}
    assert second.present == first.present


def test_nothing_changed_keeps_the_cursor(site: FakeWordPress, session: requests.Session) -> None:
    wordpress = source(site.base, session)
    first = wordpress.read({})

    second = wordpress.read(first.state)

    assert second.entries == []
    assert second.state == first.state


def test_deleted_post_is_absent_from_present(
    site: FakeWordPress, session: requests.Session
) -> None:
    wordpress = source(site.base, session)
    first = wordpress.read({})
    del site.posts[820]

    second = wordpress.read(first.state)

    assert second.present == {f"{site.base}/?p=812", f"{site.base}/?p=815"}


def test_failed_listing_means_present_unknown(
    site: FakeWordPress, session: requests.Session
) -> None:
    site.listing_fails = True

    batch = source(site.base, session).read({})

    assert len(batch.entries) == 3
    assert batch.present is None
    assert batch.errors == [
        f"{site.base}: HTTP 500 after 2 retries (listing live posts; removals not checked)"
    ]


def test_bad_post_is_reported_and_the_rest_kept(
    site: FakeWordPress, session: requests.Session
) -> None:
    site.posts[815]["title"] = "Not a rendered object"

    batch = source(site.base, session).read({})

    assert [e.slug for e in batch.entries] == ["housing-planning-bill", "council-budgets"]
    assert batch.errors == [f"{site.base} entry 815: title.rendered is not a string"]


def test_site_without_the_rest_api(httpserver: HTTPServer, session: requests.Session) -> None:
    page = "<!DOCTYPE html><html><body><h1>Not Found</h1></body></html>"
    httpserver.expect_request(POSTS_PATH).respond_with_data(page, 404, content_type="text/html")
    url = httpserver.url_for("").rstrip("/")

    with pytest.raises(SourceError) as raised:
        source(url, session).read({})

    assert str(raised.value) == f"{url}: not a WordPress REST API (HTTP 404)"


def test_site_answering_with_a_web_page(httpserver: HTTPServer, session: requests.Session) -> None:
    page = "<!DOCTYPE html><html><body><h1>Welcome</h1></body></html>"
    httpserver.expect_request(POSTS_PATH).respond_with_data(page, content_type="text/html")
    url = httpserver.url_for("").rstrip("/")

    with pytest.raises(SourceError) as raised:
        source(url, session).read({})

    assert str(raised.value) == f"{url}: not a WordPress REST API (got an HTML page)"


def test_server_error_is_a_source_error(httpserver: HTTPServer, session: requests.Session) -> None:
    httpserver.expect_request(POSTS_PATH).respond_with_data("down", status=503)
    url = httpserver.url_for("").rstrip("/")

    with pytest.raises(SourceError) as raised:
        source(url, session).read({})

    assert str(raised.value) == f"{url}: HTTP 503 after 2 retries"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["rendered", "name", "taxonomy", "slug"]), children)
    ),
    max_leaves=8,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(damage=st.dictionaries(st.sampled_from(sorted(POST)), JSON_VALUES, max_size=4))
def test_a_damaged_post_is_an_entry_or_one_error_line(
    httpserver: HTTPServer, session: requests.Session, damage: dict[str, Any]
) -> None:
    httpserver.clear()
    site = FakeWordPress(httpserver)
    post = site.publish(812, "housing-planning-bill", "2024-05-08T10:02:41")
    post.update(damage)

    batch = source(site.base, session).read({})

    entry_errors = [line for line in batch.errors if " entry " in line]
    assert len(batch.entries) + len(entry_errors) == 1
    assert all(line.startswith(site.base) and "\n" not in line for line in batch.errors)

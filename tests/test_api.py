"""The admin API over real HTTP: uvicorn on a loopback port, a real database, posts read
from a folder and digests written as .eml files by the file backend."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import pytest
import requests
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from helpers import AUTH, TOKEN, api_app, recent_post, serving

from pipeline.digest.runs import start_run
from pipeline.outbox import FINISHED
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.web.api.models import Status
from pipeline.web.state import web_state
from subscribers import STATUSES, SubscriberStore

# A value for each path parameter, so every route can be called.
PATH_VALUES = {"email": "nobody@example.org", "run_id": "1", "frequency": "weekly", "path": "x"}


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    return api_app(settings, db)


@pytest.fixture
def api(app: FastAPI) -> Iterator[str]:
    """The base URL of the running app."""
    with serving(app) as base:
        yield base


@pytest.fixture
def store(db: Database, settings: Settings) -> SubscriberStore:
    return SubscriberStore(db.sessions, default_timezone=settings.timezone)


@pytest.fixture
def posts(posts_dir: Path) -> Path:
    """Two published posts from the last day and a draft."""
    (posts_dir / "one.md").write_text(recent_post("Open data in cities", 3))
    (posts_dir / "two.md").write_text(recent_post("Budgets, explained", 2, "tags: [Policy]\n"))
    (posts_dir / "draft.md").write_text(recent_post("Not yet", 1, "draft: true\n"))
    return posts_dir


def call(method: str, url: str, **options: Any) -> requests.Response:
    return requests.request(method, url, headers=options.pop("headers", AUTH), **options)


def assert_error(response: requests.Response, status: int, contains: str = "") -> None:
    """An error answer: the status, and `{"error": "<one line>"}`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"]
    assert "\n" not in body["error"] and contains in body["error"]


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path with values filled in) for every route under /api."""
    found = []
    for route in iter_route_contexts(app.routes):
        path = route.path_format or ""
        if path.startswith("/api"):
            found += [(method, path.format(**PATH_VALUES)) for method in sorted(route.methods)]
    return found


def wait_until_finished(api: str, run_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        run = call("GET", f"{api}/api/deliveries/{run_id}").json()
        if run["status"] in FINISHED:
            return run
        assert time.monotonic() < deadline, f"run still {run['status']}"
        time.sleep(0.05)


# Auth


def test_every_api_route_refuses_strangers_and_serves_the_token(app: FastAPI) -> None:
    routes = api_routes(app)
    paths = {path for _, path in routes}
    assert {"/api/openapi.json", "/api/docs", "/api/posts", "/api/x"} <= paths
    assert len(routes) >= 20
    wrong = [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": "Bearer"},
    ]
    with serving(app) as base:
        for method, path in routes:
            for headers in wrong:
                answer = call(method, base + path, headers=headers)
                assert answer.status_code == 401, (method, path, headers)
                assert answer.headers["WWW-Authenticate"] == "Bearer"
                if method != "HEAD":
                    assert_error(answer, 401, "bearer token")
            answer = call(method, base + path, headers=AUTH)
            assert answer.status_code not in (401, 403) and answer.status_code < 500, (
                method,
                path,
                answer.text,
            )


def test_malformed_json_is_refused_and_anonymous_requests_before_it_is_read(api: str) -> None:
    url, body = f"{api}/api/subscribers", b"{not json"
    anonymous = call("POST", url, headers={"Content-Type": "application/json"}, data=body)
    assert_error(anonymous, 401)
    signed = call("POST", url, headers={**AUTH, "Content-Type": "application/json"}, data=body)
    assert signed.json() == {"error": "body: JSON decode error"}


def test_without_a_token_setting_the_api_is_off(settings: Settings, db: Database) -> None:
    with serving(api_app(settings, db, token=None)) as base:
        for path in ("/api/posts", "/api/openapi.json", "/api/docs", "/api/nothing"):
            answer = call("GET", base + path)
            assert answer.status_code == 503
            assert answer.json() == {"error": "the API is off: set NEWSLETTER_API_TOKEN"}


def test_the_public_site_still_has_no_openapi(api: str) -> None:
    assert requests.get(f"{api}/openapi.json", headers=AUTH).status_code == 404
    assert requests.get(f"{api}/healthz").json() == {"status": "ok"}


# Posts and feeds


def test_ingest_counts_per_source_then_lists_the_posts(api: str, posts: Path) -> None:
    first = call("POST", f"{api}/api/ingest").json()
    assert first["failed"] is False
    [report] = first["sources"]
    assert report | {"errors": []} == {
        "source": "posts",
        "new": 3,
        "updated": 0,
        "unchanged": 0,
        "removed": 0,
        "failed": 0,
        "errors": [],
    }
    assert "" in first["feeds"]["written"]  # the site's own feed

    again = call("POST", f"{api}/api/ingest", params={"source": "posts"}).json()
    assert again["sources"][0]["unchanged"] == 3 and again["feeds"] is None

    listed = call("GET", f"{api}/api/posts").json()
    assert [item["title"] for item in listed] == ["Budgets, explained", "Open data in cities"]
    newest = listed[0]
    assert set(newest) >= {"id", "title", "authors", "url", "published", "tags", "source"}
    assert newest["authors"] == ["Ann Lee"] and newest["tags"] == ["Policy"]
    assert datetime.fromisoformat(newest["published"]).utcoffset() is not None
    assert len(call("GET", f"{api}/api/posts", params={"limit": 1}).json()) == 1


def test_ingest_and_posts_refuse_bad_input(api: str) -> None:
    assert_error(call("POST", f"{api}/api/ingest", params={"source": "nope"}), 422, "'nope'")
    assert_error(call("GET", f"{api}/api/posts", params={"limit": 0}), 422, "query limit")
    assert_error(call("GET", f"{api}/api/posts", params={"limit": "many"}), 422, "query limit")


def test_one_ingest_or_feed_build_at_a_time(app: FastAPI, api: str) -> None:
    with web_state(app).api.refreshing:  # as if a request were still ingesting
        assert_error(call("POST", f"{api}/api/ingest"), 409, "already running")
        assert_error(call("POST", f"{api}/api/feeds/build"), 409, "already running")
    assert call("POST", f"{api}/api/feeds/build").status_code == 200


def test_an_unwritable_feeds_folder_is_no_server_error(settings: Settings, db: Database) -> None:
    blocker = settings.data_dir / "not-a-folder"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("")
    with serving(api_app(settings.model_copy(update={"feeds_dir": blocker}), db)) as base:
        assert_error(call("POST", f"{base}/api/feeds/build"), 503, "could not read or write")


def test_feeds_build_writes_the_feeds(api: str, posts: Path, settings: Settings) -> None:
    call("POST", f"{api}/api/ingest")
    (settings.effective_feeds_dir / "feed.xml").unlink()
    built = call("POST", f"{api}/api/feeds/build").json()
    assert built["written"] == [""] and built["hub_error"] is None
    assert (settings.effective_feeds_dir / "feed.xml").is_file()
    assert call("POST", f"{api}/api/feeds/build").json()["written"] == []


# Subscribers


def test_add_then_update_a_subscriber(api: str) -> None:
    new = {"email": "Ann@Example.org", "name": "Ann", "frequency": "daily", "topics": ["Policy"]}
    added = call("POST", f"{api}/api/subscribers", json=new)
    assert added.status_code == 201
    assert added.json() | {"created": None} == {
        "email": "Ann@example.org",
        "name": "Ann",
        "status": "pending",
        "frequency": "daily",
        "timezone": "Europe/London",
        "topics": ["Policy"],
        "labels": [],
        "created": None,
        "confirmed_at": None,
        "unsubscribed_at": None,
    }
    again = call(
        "POST", f"{api}/api/subscribers", json={"email": "ann@example.org", "confirmed": True}
    )
    assert again.status_code == 200
    assert again.json()["status"] == "confirmed" and again.json()["name"] == "Ann"


@pytest.mark.parametrize(
    ("body", "contains"),
    [
        ({"email": "not an address"}, "email"),
        ({"email": "a@example.org", "timezone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"email": "a@example.org", "frequency": "hourly"}, "body frequency"),
        ({"email": "a@example.org", "colour": "red"}, "body colour"),
        ({}, "body email"),
        ([], "body"),
    ],
)
def test_adding_refuses_bad_input(api: str, body: Any, contains: str) -> None:
    assert_error(call("POST", f"{api}/api/subscribers", json=body), 422, contains)


def test_subscribers_are_listed_by_status_a_page_at_a_time(
    api: str, store: SubscriberStore
) -> None:
    for n in range(5):
        store.add(f"reader{n}@example.org", confirmed=n % 2 == 0)
    page = call("GET", f"{api}/api/subscribers", params={"limit": 2}).json()
    assert page["total"] == 5 and (page["offset"], page["limit"]) == (0, 2)
    assert [item["email"] for item in page["items"]] == [
        "reader0@example.org",
        "reader1@example.org",
    ]
    rest = call("GET", f"{api}/api/subscribers", params={"limit": 2, "offset": 4}).json()
    assert [item["email"] for item in rest["items"]] == ["reader4@example.org"]
    confirmed = call("GET", f"{api}/api/subscribers", params={"status": "confirmed"}).json()
    assert confirmed["total"] == 3
    assert {item["status"] for item in confirmed["items"]} == {"confirmed"}
    assert_error(call("GET", f"{api}/api/subscribers", params={"status": "gone"}), 422, "status")
    assert_error(call("GET", f"{api}/api/subscribers", params={"offset": -1}), 422, "offset")


def test_personal_data_shows_everything_stored(api: str) -> None:
    call("POST", f"{api}/api/subscribers", json={"email": "bo@example.org", "confirmed": True})
    data = call("GET", f"{api}/api/subscribers/BO@example.org").json()
    assert data["email"] == "bo@example.org" and data["bounce_count"] == 0
    assert [(c["action"], c["method"]) for c in data["consents"]] == [("confirm", "api")]
    assert_error(call("GET", f"{api}/api/subscribers/who@example.org"), 404)
    assert_error(call("GET", f"{api}/api/subscribers/not-an-address"), 422)


def test_remove_and_erase(api: str) -> None:
    call("POST", f"{api}/api/subscribers", json={"email": "cy@example.org"})
    url = f"{api}/api/subscribers/cy@example.org"
    assert call("DELETE", url).json() == {
        "email": "cy@example.org",
        "removed": True,
        "erased": False,
    }
    assert_error(call("DELETE", url), 404)
    erased = call("DELETE", url, params={"erase": "true"}).json()
    assert erased == {"email": "cy@example.org", "removed": False, "erased": True}
    refused = call("POST", f"{api}/api/subscribers", json={"email": "cy@example.org"})
    assert_error(refused, 409, "kept out (erased)")


def test_the_api_never_brings_back_someone_who_unsubscribed(
    api: str, store: SubscriberStore
) -> None:
    subscriber, _ = store.add("dee@example.org", confirmed=True)
    store.unsubscribe(subscriber.id, subscriber.token_nonce)
    for body in ({"confirmed": True}, {"confirmed": False, "name": "Dee"}):
        answer = call("POST", f"{api}/api/subscribers", json={"email": "DEE@example.org", **body})
        assert_error(answer, 409, "kept out (unsubscribed)")
    left = store.find("dee@example.org")
    assert left is not None and (left.status, left.name) == ("unsubscribed", "")


def test_stats_count_by_status_and_frequency(api: str, store: SubscriberStore) -> None:
    store.add("a@example.org", confirmed=True, frequency="daily")
    store.add("b@example.org", confirmed=True)
    store.add("c@example.org")
    assert call("GET", f"{api}/api/stats").json() == {
        "status": {"pending": 1, "confirmed": 2, "unsubscribed": 0, "bounced": 0, "complained": 0},
        "frequency": {"each": 0, "daily": 1, "weekly": 1, "monthly": 0},
    }


def test_the_status_filter_knows_every_status() -> None:
    assert get_args(Status) == STATUSES


# Digests and deliveries


def test_preview_for_a_sample_reader_and_for_a_subscriber(
    api: str, posts: Path, store: SubscriberStore
) -> None:
    call("POST", f"{api}/api/ingest")
    sample = call("POST", f"{api}/api/digests/weekly/preview").json()
    assert sample["email"] == "reader@example.org" and sample["posts"] == 2
    assert sample["subject"].startswith("Newsletter: 2 new posts, ")  # and the date range
    assert "Budgets, explained" in sample["html"] and "Budgets, explained" in sample["text"]
    assert "Open data in cities" in sample["html"] and "Open data in cities" in sample["text"]

    store.add("dee@example.org", confirmed=True, topics=["policy"])
    mine = call(
        "POST", f"{api}/api/digests/daily/preview", json={"email": "dee@example.org"}
    ).json()
    assert (mine["email"], mine["frequency"]) == ("dee@example.org", "daily")
    assert "/unsubscribe/" in mine["html"] and "%%" not in mine["html"]

    unknown = call("POST", f"{api}/api/digests/weekly/preview", json={"email": "x@example.org"})
    assert_error(unknown, 404)
    assert_error(call("POST", f"{api}/api/digests/hourly/preview"), 422, "frequency")


def test_preview_without_posts_is_not_found(api: str) -> None:
    assert_error(call("POST", f"{api}/api/digests/weekly/preview"), 404, "ingest")


def test_per_post_mail_is_not_sent_through_the_digest_endpoint(api: str) -> None:
    assert_error(call("POST", f"{api}/api/digests/each/send"), 409, "per-post emails")


def test_send_twice_makes_one_run_and_one_mail_each(
    api: str, posts: Path, store: SubscriberStore, settings: Settings
) -> None:
    call("POST", f"{api}/api/ingest")
    for name in ("eve", "fay", "gus"):
        store.add(f"{name}@example.org", confirmed=True)
    store.add("pending@example.org")
    first = call("POST", f"{api}/api/digests/weekly/send")
    second = call("POST", f"{api}/api/digests/weekly/send")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    run = wait_until_finished(api, first.json()["id"])
    assert run["status"] == "done" and run["counts"]["sent"] == 3
    assert len(list((settings.data_dir / "outbox").glob("*.eml"))) == 3
    assert call("POST", f"{api}/api/digests/weekly/send").status_code == 200
    [listed] = call("GET", f"{api}/api/deliveries").json()
    assert listed == run


def test_an_idempotency_key_replays_the_first_answer(api: str) -> None:
    url = f"{api}/api/digests/monthly/send"
    keyed = {**AUTH, "Idempotency-Key": "retry-1"}
    first = call("POST", url, headers=keyed)
    replay = call("POST", url, headers=keyed)
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json() == first.json() and replay.headers["Idempotent-Replayed"] == "true"
    assert call("POST", url, headers={**AUTH, "Idempotency-Key": "retry-2"}).status_code == 200
    misused = call("POST", f"{api}/api/digests/daily/send", headers=keyed)
    assert_error(misused, 422, "/api/digests/monthly/send")


def test_a_misconfigured_backend_changes_nothing(settings: Settings, db: Database) -> None:
    broken = settings.model_copy(update={"email_backend": "postmark"})
    with serving(api_app(broken, db)) as base:
        assert_error(call("POST", f"{base}/api/digests/weekly/send"), 503, "NEWSLETTER_API_KEY")
        assert call("GET", f"{base}/api/deliveries").json() == []


def test_pause_resume_and_cancel(
    api: str, posts: Path, db: Database, settings: Settings, store: SubscriberStore
) -> None:
    call("POST", f"{api}/api/ingest")
    store.add("hal@example.org", confirmed=True)
    run_id = start_run(db, settings, "weekly", datetime.now(UTC)).run.id  # queued, not sent
    url = f"{api}/api/deliveries/{run_id}"
    assert call("GET", url).json()["counts"]["queued"] == 1
    paused = call("POST", f"{url}/pause").json()
    assert paused["status"] == "paused" and paused["note"] == "paused by an admin"
    assert call("POST", f"{url}/pause").json()["status"] == "paused"
    assert call("POST", f"{url}/resume").json()["status"] == "sending"
    done = wait_until_finished(api, run_id)
    assert done["status"] == "done" and done["counts"]["sent"] == 1
    assert_error(call("POST", f"{url}/pause"), 409, "done")
    assert_error(call("POST", f"{url}/cancel"), 409, "done")
    assert_error(call("POST", f"{url}/resume"), 409, "done")


def test_cancel_skips_what_was_not_sent(
    api: str, posts: Path, db: Database, settings: Settings, store: SubscriberStore
) -> None:
    call("POST", f"{api}/api/ingest")
    store.add("ida@example.org", confirmed=True, frequency="daily")
    run_id = start_run(db, settings, "daily", datetime.now(UTC)).run.id
    cancelled = call("POST", f"{api}/api/deliveries/{run_id}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["counts"]["skipped"] == 1
    assert call("POST", f"{api}/api/deliveries/{run_id}/cancel").status_code == 200


def test_unknown_runs_and_bad_ids(api: str) -> None:
    assert call("GET", f"{api}/api/deliveries").json() == []
    for path in ("/api/deliveries/7", "/api/deliveries/7/pause", "/api/deliveries/7/cancel"):
        method = "GET" if path.endswith("7") else "POST"
        assert_error(call(method, api + path), 404, "no digest run 7")
    assert_error(call("GET", f"{api}/api/deliveries/0"), 422, "path run_id")
    assert_error(call("GET", f"{api}/api/deliveries/{2**70}"), 422, "path run_id")
    assert_error(call("GET", f"{api}/api/deliveries/seven"), 422, "path run_id")


def test_unknown_operations_are_json_404s(api: str) -> None:
    assert_error(call("GET", f"{api}/api/nothing/here"), 404, "GET /api/nothing/here")


# Docs


def test_openapi_describes_every_operation_behind_the_token(api: str, app: FastAPI) -> None:
    schema = call("GET", f"{api}/api/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert schema["security"] == [{"bearer": []}]
    documented = {
        (method.upper(), path) for path, item in schema["paths"].items() for method in item
    }
    served = {
        (method, route.path)
        for route in iter_route_contexts(app.routes)
        if (route.path or "").startswith("/api") and route.include_in_schema
        for method in route.methods or ()
    }
    assert documented == served
    assert len(documented) == 15
    errors = schema["paths"]["/api/subscribers"]["post"]["responses"]["422"]
    assert errors["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")


def test_docs_page_lists_the_operations_without_scripts(api: str) -> None:
    page = call("GET", f"{api}/api/docs")
    assert page.headers["Content-Type"].startswith("text/html")
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert "<script" not in page.text
    schema = call("GET", f"{api}/api/openapi.json").json()
    for path, item in schema["paths"].items():
        for method in item:
            assert f"<code>{method.upper()} {path}</code>" in page.text

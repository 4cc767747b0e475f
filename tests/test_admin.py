"""The admin's defences over real HTTP (uvicorn on a free port): sign-in, the session
cookie, CSRF tokens, backoff after failed sign-ins (per address, and per address and
username), sign-out shared by every process, the admin being off without credentials, and
every /admin route refusing anonymous requests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
import requests
from fastapi import FastAPI, routing
from helpers import (
    PASSWORD,
    USER,
    admin_app,
    admin_settings,
    form_post,
    running,
    sign_in,
    signed_in,
    tokens,
)

from pipeline.settings import Settings
from pipeline.storage import Database, open_database
from pipeline.web.admin.backoff import (
    ADDRESS_FAILURES_ALLOWED,
    FAILURES_ALLOWED,
    FIRST_WAIT_SECONDS,
)
from pipeline.web.state import web_state


def set_cookies(response: requests.Response) -> SimpleCookie:
    """Every Set-Cookie of a response, with its attributes."""
    cookies: SimpleCookie = SimpleCookie()
    for header in response.raw.headers.getlist("Set-Cookie"):
        cookies.load(header)
    return cookies


def admin_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(path, method) of every route under /admin, however FastAPI nests included routers."""
    listed = getattr(routing, "iter_route_contexts", iter)(app.routes)
    return sorted(
        (route.path, method)
        for route in listed
        if (route.path or "").startswith("/admin")
        for method in route.methods or ()
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return admin_settings(tmp_path, database_url)


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    return admin_app(settings, db)


@pytest.fixture
def site(app: FastAPI) -> Iterator[str]:
    with running(app) as base_url:
        yield base_url


def test_sign_in_sets_a_strict_http_only_session_cookie(site: str) -> None:
    anonymous = requests.get(f"{site}/admin/subscribers?q=ann", allow_redirects=False, timeout=10)
    assert anonymous.status_code == 303
    assert anonymous.headers["Location"] == "/admin/signin?next=%2Fadmin%2Fsubscribers%3Fq%3Dann"

    session = requests.Session()
    answer = sign_in(site, session, next_page="/admin/subscribers?q=ann")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/admin/subscribers?q=ann"
    cookie = set_cookies(answer)["newsletter_admin"]
    assert cookie["httponly"] is True and cookie["samesite"].lower() == "strict"
    assert cookie["path"] == "/admin" and int(cookie["max-age"]) > 0
    assert not cookie["secure"]  # SITE_URL is http here

    page = session.get(f"{site}/admin/", timeout=10)
    assert page.status_code == 200 and "Dashboard" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "Sign out editor@example.org" in page.text


def test_the_cookie_is_secure_when_the_site_is_https(
    tmp_path: Path, database_url: str, db: Database
) -> None:
    https = admin_settings(tmp_path, database_url, site_url="https://blog.example.org")
    with running(admin_app(https, db)) as base_url:
        form = requests.get(f"{base_url}/admin/signin", timeout=10)
        assert set_cookies(form)["newsletter_admin_signin"]["secure"] is True
        answer = requests.post(
            f"{base_url}/admin/signin",
            data={"csrf": tokens(form.text)["csrf"], "username": USER, "password": PASSWORD},
            cookies=dict(form.cookies),  # a plain dict: sent over http, Secure or not
            allow_redirects=False,
            timeout=10,
        )
    assert answer.status_code == 303
    assert set_cookies(answer)["newsletter_admin"]["secure"] is True


def test_a_wrong_password_or_username_signs_no_one_in(site: str) -> None:
    for username, password in ((USER, "wrong"), ("someone", PASSWORD), (USER, "")):
        session = requests.Session()
        answer = sign_in(site, session, username=username, password=password)
        assert answer.status_code == 401
        assert "Wrong username or password." in answer.text
        assert "newsletter_admin" not in set_cookies(answer)
        assert session.get(f"{site}/admin/", allow_redirects=False, timeout=10).status_code == 303


def test_repeated_failures_from_one_address_get_429_with_a_growing_wait(
    site: str, app: FastAPI
) -> None:
    for _ in range(FAILURES_ALLOWED):
        assert sign_in(site, password="x", ip="203.0.113.9").status_code == 401
    refused = sign_in(site, password="x", ip="203.0.113.9")
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= FIRST_WAIT_SECONDS
    # While it waits, not even the right password gets in (and nothing is learnt).
    assert sign_in(site, ip="203.0.113.9").status_code == 429
    # Once the wait is over, the next failure waits twice as long.
    shared = web_state(app).shared
    later = shared.clock() + timedelta(seconds=FIRST_WAIT_SECONDS + 1)
    shared.clock = lambda: later
    assert sign_in(site, password="x", ip="203.0.113.9").status_code == 401
    again = sign_in(site, password="x", ip="203.0.113.9")
    assert again.status_code == 429
    assert FIRST_WAIT_SECONDS < int(again.headers["Retry-After"]) <= 2 * FIRST_WAIT_SECONDS


def test_failures_from_one_address_never_lock_the_owner_out_of_another(site: str) -> None:
    for _ in range(3 * FAILURES_ALLOWED):
        answer = sign_in(site, password="x", ip="203.0.113.9")
        assert answer.status_code in (401, 429)
    assert answer.status_code == 429
    assert sign_in(site, ip="198.51.100.7").status_code == 303


def test_one_address_trying_many_usernames_gets_429(site: str) -> None:
    for attempt in range(ADDRESS_FAILURES_ALLOWED):
        answer = sign_in(site, username=f"guess{attempt}", password="x", ip="203.0.113.9")
        assert answer.status_code == 401
    assert sign_in(site, ip="203.0.113.9").status_code == 429
    assert sign_in(site, ip="203.0.113.10").status_code == 303


def test_failures_count_in_every_process_on_the_database(
    site: str, settings: Settings, db: Database
) -> None:
    """A second app on the same database (another `serve` process, or this one restarted)."""
    for _ in range(FAILURES_ALLOWED):
        assert sign_in(site, password="x", ip="203.0.113.9").status_code == 401
    with running(admin_app(settings, db)) as other:
        assert sign_in(other, ip="203.0.113.9").status_code == 429
        assert sign_in(other, ip="198.51.100.7").status_code == 303


def test_posts_without_the_right_csrf_token_are_refused(site: str, app: FastAPI) -> None:
    session = signed_in(site)
    fields = {"email": "forged@example.org"}
    for token in ({}, {"csrf": "not-the-token"}):
        answer = session.post(f"{site}/admin/subscribers", data=fields | token, timeout=10)
        assert answer.status_code == 403
        assert "Form expired" in answer.text
    # Another session's token does not fit this session either.
    other = tokens(signed_in(site).get(f"{site}/admin/subscribers", timeout=10).text)
    forged = session.post(f"{site}/admin/subscribers", data=fields | other, timeout=10)
    assert forged.status_code == 403
    assert web_state(app).subscribers.find("forged@example.org") is None
    # The sign-in form needs its own cookie's token.
    blind = requests.post(
        f"{site}/admin/signin",
        data={"username": USER, "password": PASSWORD, "csrf": "guess"},
        allow_redirects=False,
        timeout=10,
    )
    assert blind.status_code == 403 and "newsletter_admin" not in set_cookies(blind)
    # Nor can anyone make it buffer an upload: it reads no more than a public form.
    huge = requests.post(f"{site}/admin/signin", data={"csrf": "x" * 20_000}, timeout=10)
    assert huge.status_code == 413


def test_signing_out_ends_the_session_even_for_a_copied_cookie(
    site: str, settings: Settings, db: Database
) -> None:
    session = signed_in(site)
    copied = {"newsletter_admin": session.cookies.get("newsletter_admin")}
    answer = form_post(session, site, "/admin/", "/admin/signout")
    assert answer.status_code == 303 and answer.headers["Location"] == "/admin/signin"
    assert set_cookies(answer)["newsletter_admin"]["max-age"] == "0"
    replayed = requests.get(f"{site}/admin/", cookies=copied, allow_redirects=False, timeout=10)
    assert replayed.status_code == 303
    # Nor in another process on the database, or after a restart (a new app, a new engine).
    restarted = open_database(settings.effective_database_url)
    try:
        with running(admin_app(settings, restarted)) as other:
            elsewhere = requests.get(
                f"{other}/admin/", cookies=copied, allow_redirects=False, timeout=10
            )
            assert elsewhere.status_code == 303
            # while a session that did not sign out goes on working there
            still = {"newsletter_admin": signed_in(site).cookies.get("newsletter_admin")}
            page = requests.get(f"{other}/admin/", cookies=still, allow_redirects=False, timeout=10)
            assert page.status_code == 200
    finally:
        restarted.close()


def test_after_sign_in_only_admin_pages_are_followed(site: str) -> None:
    for elsewhere in ("//evil.example/admin/", "https://evil.example/", "/feed.xml", "/admin\\x"):
        answer = sign_in(site, next_page=elsewhere)
        assert answer.headers["Location"] == "/admin/"


def test_the_admin_is_off_without_credentials(
    tmp_path: Path, database_url: str, db: Database
) -> None:
    off = admin_settings(tmp_path, database_url, admin_username=None, admin_password=None)
    with running(admin_app(off, db)) as base_url:
        for method, path in (
            ("GET", "/admin/"),
            ("GET", "/admin/signin"),
            ("POST", "/admin/signin"),
        ):
            answer = requests.request(method, f"{base_url}{path}", timeout=10)
            assert answer.status_code == 503
            assert "NEWSLETTER_ADMIN_USERNAME" in answer.text
            assert "NEWSLETTER_ADMIN_PASSWORD" in answer.text
            assert answer.headers["Cache-Control"] == "no-store"


def test_every_admin_route_refuses_anonymous_requests(site: str, app: FastAPI) -> None:
    routes = admin_routes(app)
    assert ("/admin/digest/send", "POST") in routes and len(routes) > 15
    examples = {"{run_id}": "1", "{action}": "pause", "{name}": "x.eml", "{subscriber_id}": "1"}
    for path, method in routes:
        if path == "/admin/signin":
            continue
        url = path
        for placeholder, value in examples.items():
            url = url.replace(placeholder, value)
        assert "{" not in url, f"no example value for {path}"
        answer = requests.request(method, f"{site}{url}", allow_redirects=False, timeout=10)
        if method == "GET":
            assert answer.status_code in (302, 303), (method, path)
            assert answer.headers["Location"].startswith("/admin/signin?next="), path
        else:
            assert answer.status_code in (401, 403), (method, path)

"""Several web processes on one database act as one: two real `newsletter serve` processes
share the sign-up rate limit and admin sign-outs, and two apps share one-time form nonces
and API idempotency answers (all kept in the database's shared web state)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import requests
from cli_runner import serving
from helpers import PASSWORD, TOKEN, USER, api_app, form_post, running, signed_in

from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.web import create_app
from pipeline.web.state import web_state
from pipeline.web.subscribe import SIGNUP_LIMIT

CLIENT = "203.0.113.9"


def signup(base: str, email: str, ip: str = CLIENT) -> int:
    answer = requests.post(
        f"{base}/subscribe", data={"email": email}, headers={"X-Forwarded-For": ip}, timeout=10
    )
    return answer.status_code


def test_two_serve_processes_share_the_sign_up_limit_and_sign_outs(
    tmp_path: Path, database_url: str
) -> None:
    settings = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "two-processes-secret-0123456789",
        "ADMIN_USERNAME": USER,
        "ADMIN_PASSWORD": PASSWORD,
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        "SOURCES": "[]",
    }
    with ExitStack() as stack:
        first, second = (stack.enter_context(serving(tmp_path, **settings))[1] for _ in "ab")
        answers = [signup(base, f"r{n}@example.org") for n, base in enumerate([first, second] * 3)]
        assert answers == [200] * SIGNUP_LIMIT + [429]
        assert signup(first, "late@example.org") == 429
        assert signup(second, "other@example.org", ip="203.0.113.10") == 200

        session = signed_in(first)
        copied = {"newsletter_admin": session.cookies.get("newsletter_admin")}
        seen = requests.get(f"{second}/admin/", cookies=copied, allow_redirects=False, timeout=10)
        assert seen.status_code == 200  # one session for both processes
        assert form_post(session, second, "/admin/", "/admin/signout").status_code == 303
        for base in (first, second):
            replayed = requests.get(
                f"{base}/admin/", cookies=copied, allow_redirects=False, timeout=10
            )
            assert replayed.status_code == 303 and replayed.headers["Location"].startswith(
                "/admin/signin"
            )


def test_a_form_nonce_is_spent_for_every_app_on_the_database(
    settings: Settings, db: Database
) -> None:
    one, other = (web_state(create_app(settings, db)).admin.nonces for _ in range(2))
    nonce = one.issue()
    assert other.use(nonce)
    assert not one.use(nonce) and not other.use(nonce)
    assert not other.use("never-issued") and not other.use("x" * 10_000)


def test_an_idempotency_answer_is_replayed_by_another_app(settings: Settings, db: Database) -> None:
    keyed = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "shared-1"}
    with running(api_app(settings, db)) as one, running(api_app(settings, db)) as other:
        first = requests.post(f"{one}/api/digests/monthly/send", headers=keyed, timeout=10)
        again = requests.post(f"{other}/api/digests/monthly/send", headers=keyed, timeout=10)
        misused = requests.post(f"{other}/api/digests/daily/send", headers=keyed, timeout=10)
    assert first.status_code == 201 and again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert misused.status_code == 422

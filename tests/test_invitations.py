"""Pending people are asked to confirm however they were added (CLI, import, API, admin),
at most once an hour per address; `subscribers invite` asks again; confirming brings one
welcome mail. All through the file backend: real .eml files in DATA_DIR/outbox."""

from __future__ import annotations

import email
import json
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
import requests
from cli_runner import run
from helpers import (
    LOCAL_SITE,
    admin_app,
    admin_settings,
    form_post,
    running,
    serving,
    signed_in,
)
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session
from werkzeug import Request, Response

from pipeline.delivery import open_backend
from pipeline.invitations import invite
from pipeline.outbox import send_run
from pipeline.settings import Settings, load_settings
from pipeline.storage import Database
from pipeline.web.state import web_state
from subscribers import Signup, Subscriber, SubscriberStore

SITE = "https://blog.example.org"


def mails(outbox: Path) -> list[EmailMessage]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=default_policy)  # type: ignore[misc]
        for path in sorted(outbox.glob("*.eml"))
    ]


def wait_for(outbox: Path, count: int) -> list[EmailMessage]:
    """The outbox once it holds `count` mails (background tasks send after the answer)."""
    deadline = time.monotonic() + 10
    while len(found := mails(outbox)) < count:
        assert time.monotonic() < deadline, f"{len(found)} of {count} mails"
        time.sleep(0.05)
    return found


def confirm_link(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    [link] = re.findall(r"https?://\S+/confirm/\S+", body.get_content())
    return link


def test_cli_add_and_import_ask_pending_people_once_an_hour(tmp_path: Path) -> None:
    outbox = tmp_path / "var" / "outbox"
    added = run("subscribers", "add", "ann@example.org", cwd=tmp_path, site_url=SITE)
    assert added.returncode == 0, added.stderr
    assert "1 confirmation mails queued, 0 held back" in added.stdout
    [asked] = mails(outbox)
    assert asked["To"] == "ann@example.org"
    assert confirm_link(asked).startswith(f"{SITE}/confirm/")

    run("subscribers", "add", "bo@example.org", "--confirmed", cwd=tmp_path)
    (tmp_path / "list.csv").write_text("email\nann@example.org\ncy@example.org\n")
    imported = run("subscribers", "import", "list.csv", cwd=tmp_path)
    assert "1 confirmation mails queued, 1 held back" in imported.stdout  # ann: asked already
    assert sorted(m["To"] for m in mails(outbox)) == ["ann@example.org", "cy@example.org"]

    again = run("subscribers", "invite", cwd=tmp_path)
    assert again.returncode == 0 and "0 confirmation mails queued, 2 held back" in again.stdout
    # An hour and more later: the last asks moved back instead of the clock.
    engine = create_engine(f"sqlite:///{tmp_path / 'var' / 'newsletter.db'}")
    with Session(engine) as session, session.begin():
        for subscriber in session.scalars(select(Subscriber)):
            if subscriber.confirmation_sent_at is not None:
                subscriber.confirmation_sent_at -= timedelta(hours=2)
    engine.dispose()
    later = run("subscribers", "invite", cwd=tmp_path)
    assert later.returncode == 0, later.stderr
    assert "2 confirmation mails queued, 0 held back" in later.stdout
    assert len(mails(outbox)) == 4  # bo, confirmed, was never asked


def test_confirming_sends_one_welcome(settings: Settings, db: Database) -> None:
    app = admin_app(settings, db)
    outbox = settings.data_dir / "outbox"
    with running(app) as base:
        answer = requests.post(f"{base}/subscribe", data={"email": "dee@example.org"}, timeout=10)
        assert answer.status_code == 200
        [asked] = wait_for(outbox, 1)
        link = confirm_link(asked).replace(LOCAL_SITE, base)
        for _ in range(2):
            assert requests.get(link, timeout=10).status_code == 200
        welcome = wait_for(outbox, 2)[1]
        time.sleep(0.3)
    assert len(mails(outbox)) == 2  # the second click sent nothing
    assert welcome["Subject"] == "Welcome to Policy Notes"
    text = welcome.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = welcome.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for body in (text, html):
        assert "in a weekly email" in body
        assert f"{LOCAL_SITE}/unsubscribe/" in body and f"{LOCAL_SITE}/preferences/" in body
    assert welcome["List-Unsubscribe"].startswith(f"<{LOCAL_SITE}/unsubscribe/")


def test_api_and_admin_adds_ask_pending_people(settings: Settings, db: Database) -> None:
    token = "api-token-for-tests-0123456789"
    app = admin_app(settings.model_copy(update={"api_token": SecretStr(token)}), db)
    outbox = settings.data_dir / "outbox"
    with running(app) as base:
        api = requests.post(
            f"{base}/api/subscribers",
            json={"email": "api@example.org"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert api.status_code == 201, api.text
        wait_for(outbox, 1)
        confirmed = requests.post(
            f"{base}/api/subscribers",
            json={"email": "vouched@example.org", "confirmed": True},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert confirmed.status_code == 201
        admin = signed_in(base)
        added = form_post(
            admin, base, "/admin/subscribers", "/admin/subscribers", email="form@example.org"
        )
        assert added.status_code == 303
        found = wait_for(outbox, 2)
    assert sorted(m["To"] for m in found) == ["api@example.org", "form@example.org"]


def test_the_admin_button_asks_pending_people_once_an_hour(
    settings: Settings, db: Database
) -> None:
    """ "Ask pending people again" mails the confirmation link to each pending person, none
    to those confirmed or gone, and nothing to anyone asked within the hour."""
    app = admin_app(settings, db)
    store = web_state(app).subscribers
    for name in ("ann", "bo"):
        store.add(f"{name}@example.org")
    store.add("cy@example.org", confirmed=True)
    left, _ = store.add("dee@example.org", confirmed=True)
    store.unsubscribe(left.id, left.token_nonce)
    store.add("eve@example.org")
    store.suppress("eve@example.org", "bounce")
    outbox = settings.data_dir / "outbox"
    with serving(app) as base:
        admin = signed_in(base)

        def ask() -> str:
            answer = form_post(admin, base, "/admin/subscribers", "/admin/subscribers/invite")
            assert answer.status_code == 303, answer.text
            shown = admin.get(f"{base}{answer.headers['location']}", timeout=10)
            return re.sub(r"\s+", " ", shown.text)

        assert "Pending people: 2 confirmation mails queued, 0 held back" in ask()
        assert addressees(wait_for(outbox, 2)) == {"ann@example.org": 1, "bo@example.org": 1}
        store.add("fay@example.org")  # pending, never asked
        assert "Pending people: 1 confirmation mails queued, 2 held back" in ask()
        assert addressees(wait_for(outbox, 3))["fay@example.org"] == 1
        _asked_hours_ago(db, 2)
        assert "Pending people: 3 confirmation mails queued, 0 held back" in ask()
    sent = mails(outbox)
    assert addressees(sent) == {"ann@example.org": 2, "bo@example.org": 2, "fay@example.org": 2}
    for message in sent:
        assert confirm_link(message).startswith(f"{LOCAL_SITE}/confirm/")


def addressees(messages: list[EmailMessage]) -> Counter[str]:
    return Counter(str(message["To"]) for message in messages)


def _asked_hours_ago(db: Database, hours: int) -> None:
    """Every last ask moved `hours` back, instead of the clock."""
    with db.sessions.begin() as session:
        for subscriber in session.scalars(select(Subscriber)):
            if subscriber.confirmation_sent_at is not None:
                subscriber.confirmation_sent_at -= timedelta(hours=hours)


def test_a_large_invitation_round_is_queued_then_sent_once_each_across_a_crash(
    settings: Settings, db: Database
) -> None:
    """Queued in one transaction (nothing is mailed while the request or command runs); a
    sender stopped mid-way leaves the rest queued, the next pass sends exactly those, and
    a second round within the hour holds everyone back."""
    store = SubscriberStore(db.sessions, default_timezone=settings.timezone)
    people = 1_200
    added = store.add_many([Signup(f"p{n}@example.org") for n in range(people)])
    ids = [result[0].id for result in added if isinstance(result, tuple)]
    outbox = settings.data_dir / "outbox"
    now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    invited = invite(db, store, ids, now=now)
    assert (invited.queued, invited.held) == (people, 0) and invited.run is not None
    assert mails(outbox) == []
    first = send_run(db, settings, invited.run.id, clock=lambda: now, batch_size=200, limit=400)
    assert first.stopped_at_limit and first.sent == 400
    rest = send_run(db, settings, invited.run.id, clock=lambda: now, batch_size=200)
    assert (rest.sent, rest.failed, rest.status) == (people - 400, 0, "done")
    sent = [m["To"] for m in mails(outbox)]
    assert len(sent) == len(set(sent)) == people
    again = invite(db, store, ids, now=now + timedelta(minutes=59))
    assert (again.queued, again.held, again.run) == (0, people, None)


def test_people_confirmed_before_their_invitation_goes_are_skipped(
    settings: Settings, db: Database
) -> None:
    store = SubscriberStore(db.sessions, default_timezone=settings.timezone)
    pending = [store.add(f"{name}@example.org")[0] for name in ("ann", "bo")]
    invited = invite(db, store, [person.id for person in pending])
    assert invited.run is not None
    store.confirm(pending[0].id, pending[0].token_nonce)
    report = send_run(db, settings, invited.run.id)
    assert (report.sent, report.skipped) == (1, 1)
    assert [m["To"] for m in mails(settings.data_dir / "outbox")] == ["bo@example.org"]


def test_an_address_no_copy_can_carry_fails_its_row_through_an_email_api_too(
    settings: Settings, db: Database, httpserver: HTTPServer
) -> None:
    """An API backend never reads a copy's bytes, yet what making them would refuse is
    refused while rendering: that row fails, and the request carries the others."""
    store = SubscriberStore(db.sessions, default_timezone=settings.timezone)
    pending = [store.add(f"{name}@example.org")[0] for name in ("ann", "bo")]
    invited = invite(db, store, [person.id for person in pending])
    assert invited.run is not None
    with db.session() as session:
        session.execute(
            update(Subscriber).where(Subscriber.id == pending[0].id).values(email="zoë@example.org")
        )
    seen: list[list[dict[str, object]]] = []

    def answer(request: Request) -> Response:
        body = request.get_json()
        seen.append(body)
        accepted = [{"ErrorCode": 0, "MessageID": f"pm-{n}"} for n in range(len(body))]
        return Response(json.dumps(accepted), mimetype="application/json")

    httpserver.expect_request("/email/batch", method="POST").respond_with_handler(answer)
    api = load_settings(
        email_backend="postmark", api_key="test", api_base_url=httpserver.url_for("/")
    )
    with open_backend(api) as backend:
        report = send_run(db, settings, invited.run.id, backend=backend)
    assert (report.sent, report.failed) == (1, 1)
    assert report.errors[0].startswith("zoë@example.org: ") and "ascii" in report.errors[0]
    assert [[message["To"] for message in body] for body in seen] == [["bo@example.org"]]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return admin_settings(tmp_path, database_url)

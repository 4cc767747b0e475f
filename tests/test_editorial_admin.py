"""The admin's and the API's editorial control over real HTTP: a subject and intro set on
the confirmation page (reviewed, then sent), the API's send body, and clicks per run and
per post on the runs pages."""

from __future__ import annotations

import email
import html
from datetime import timedelta
from email.policy import default as default_policy
from pathlib import Path

import pytest
import requests
from fastapi import FastAPI
from helpers import (
    AUTH,
    READERS,
    admin_settings,
    api_app,
    form_post,
    serving,
    signed_in,
    tokens,
    wait_until_finished,
    write_post,
)

from pipeline.clicks import click_path, count_click
from pipeline.ingest import ingest
from pipeline.keys import signing_keys
from pipeline.outbox import get_run, recent_runs
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.storage.models import Post
from pipeline.web.state import web_state
from subscribers import SubscriberStore


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return admin_settings(tmp_path, database_url, secret_key="editorial-admin-0123456789")


@pytest.fixture
def app(settings: Settings, db: Database, posts_dir: Path) -> FastAPI:
    write_post(posts_dir, "budgets", "Budgets & pilots", timedelta(days=2))
    write_post(posts_dir, "libraries", "Running libraries", timedelta(days=1))
    ingest(db, settings)
    app = api_app(settings, db)
    store: SubscriberStore = web_state(app).subscribers
    for address in READERS[:2]:
        store.add(address, confirmed=True)
    store.add("kenji@example.org", timezone="Asia/Tokyo", confirmed=True)
    return app


def mails(settings: Settings) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=default_policy)  # type: ignore[misc]
        for path in sorted((settings.data_dir / "outbox").glob("*.eml"))
    ]


def test_the_confirmation_shows_and_sends_the_reviewed_subject_and_intro(
    app: FastAPI, settings: Settings, db: Database
) -> None:
    with serving(app) as site:
        admin = signed_in(site)
        first = admin.get(f"{site}/admin/digest/send", params={"frequency": "weekly"}, timeout=10)
        assert first.status_code == 200
        assert "Running libraries" in first.text and "Budgets &amp; pilots" in first.text
        assert "<td>weekly</td><td>Asia/Tokyo</td>" in first.text.replace("\n", "")
        assert "<td>weekly</td><td>Europe/London</td>" in first.text.replace("\n", "")

        reviewed = form_post(
            admin, site, "/admin/digest/send?frequency=weekly", "/admin/digest/send/review",
            frequency="weekly", subject="Budget week\r\nBcc: evil@example.org",
            intro="Hello **all** <script>alert(1)</script>",
        )  # fmt: skip
        assert reviewed.status_code == 200
        page = reviewed.text
        assert '<td id="send-subject">Budget week Bcc: evil@example.org</td>' in page
        assert "<strong>all</strong>" in page and "<script>alert(1)" not in page
        fields = tokens(page) | {
            "frequency": "weekly",
            "subject": html.unescape(page.split('name="subject" value="', 1)[1].split('"', 1)[0]),
            "intro": html.unescape(page.split('name="intro" value="', 1)[1].split('"', 1)[0]),
        }
        assert fields["intro"] == "Hello **all** <script>alert(1)</script>"
        sent = admin.post(f"{site}/admin/digest/send", data=fields, allow_redirects=False)
        assert sent.status_code == 303
        [run] = recent_runs(db)
        assert wait_until_finished(db, run.id).status == "done"
    stored = get_run(db, run.id)
    assert stored is not None and stored.intro == "Hello **all** <script>alert(1)</script>"
    received = mails(settings)
    assert len(received) == 3
    for message in received:
        assert message["Subject"] == "Budget week Bcc: evil@example.org"
        assert message["Bcc"] is None
        body = message.get_body(("html",)).get_content()
        assert "<strong>all</strong>" in body and "<script" not in body


def test_a_bad_subject_is_refused_on_the_page_and_nothing_starts(
    app: FastAPI, db: Database
) -> None:
    with serving(app) as site:
        admin = signed_in(site)
        refused = form_post(
            admin, site, "/admin/digest/send?frequency=weekly", "/admin/digest/send",
            frequency="weekly", subject="x" * 201,
        )  # fmt: skip
        assert refused.status_code == 422 and "subject: longer than 200" in refused.text
        forged = requests.post(
            f"{site}/admin/digest/send/review",
            data={"frequency": "weekly", "subject": "hi"},
            cookies=admin.cookies,
            allow_redirects=False,
            timeout=10,
        )
        assert forged.status_code == 403  # no CSRF token
        anonymous = requests.post(
            f"{site}/admin/digest/send/review", data={"frequency": "weekly"}, timeout=10
        )
        assert anonymous.status_code == 403
    assert recent_runs(db) == []


def test_the_api_sets_a_run_subject_and_intro(
    app: FastAPI, settings: Settings, db: Database
) -> None:
    with serving(app) as site:
        refused = requests.post(
            f"{site}/api/digests/weekly/send",
            json={"subject": "x" * 201},
            headers=AUTH,
            timeout=10,
        )
        assert refused.status_code == 422 and "error" in refused.json()
        unknown = requests.post(
            f"{site}/api/digests/weekly/send", json={"sender": "me"}, headers=AUTH, timeout=10
        )
        assert unknown.status_code == 422
        started = requests.post(
            f"{site}/api/digests/weekly/send",
            json={"subject": "From the API", "intro": "A *short* note."},
            headers=AUTH,
            timeout=10,
        )
        assert started.status_code == 201, started.text
        run = started.json()
        assert run["kind"] == "digest" and run["subject"] == "From the API"
        assert wait_until_finished(db, run["id"]).status == "done"
        no_auth = requests.post(f"{site}/api/digests/weekly/send", json={}, timeout=10)
        assert no_auth.status_code == 401
    for message in mails(settings):
        assert message["Subject"] == "From the API"
        assert "<em>short</em>" in message.get_body(("html",)).get_content()


def test_runs_pages_show_clicks_per_run_and_per_post(
    app: FastAPI, settings: Settings, db: Database
) -> None:
    with serving(app) as site:
        answer = requests.post(f"{site}/api/digests/weekly/send", headers=AUTH, timeout=10)
        run_id = answer.json()["id"]
        wait_until_finished(db, run_id)
        with db.session() as session:
            posts = {post.title: post.id for post in session.query(Post)}
        key = signing_keys(settings)[0]
        for _ in range(3):
            followed = requests.get(
                site + click_path(key, run_id, posts["Running libraries"]),
                allow_redirects=False,
                timeout=10,
            )
            assert followed.status_code == 302
        count_click(db, run_id, posts["Budgets & pilots"])
        admin = signed_in(site)
        listing = admin.get(f"{site}/admin/runs", timeout=10).text
        assert '<td class="number">4</td>' in listing
        shown = admin.get(f"{site}/admin/runs/{run_id}", timeout=10).text
        rows = shown.split("<h2>Clicks</h2>", 1)[1].split("</table>", 1)[0]
        assert rows.index("Running libraries") < rows.index("Budgets &amp; pilots")
        assert '<td class="number">3</td>' in rows and '<td class="number">1</td>' in rows
        assert (
            requests.get(
                f"{site}/admin/runs/{run_id}", timeout=10, allow_redirects=False
            ).status_code
            == 303
        )


def test_a_broadcast_is_previewed_tested_then_sent_to_one_topic(
    app: FastAPI, settings: Settings, db: Database
) -> None:
    store: SubscriberStore = web_state(app).subscribers
    store.add("tina@example.org", topics=["Transport"], confirmed=True)
    mail = {
        "subject": "Bus strike\r\nBcc: evil@example.org",
        "body": "Buses **stop** on Friday. <script>alert(1)</script>",
        "topic": "transport",
    }
    with serving(app) as site:
        assert requests.get(f"{site}/admin/broadcast", allow_redirects=False).status_code == 303
        admin = signed_in(site)
        shown = form_post(admin, site, "/admin/broadcast", "/admin/broadcast/preview", **mail)
        assert shown.status_code == 200
        assert '<h2 id="preview-heading">Bus strike Bcc: evil@example.org</h2>' in shown.text
        assert "<strong>stop</strong>" in shown.text and "<script>alert(1)" not in shown.text
        assert '<td>weekly</td><td>Europe/London</td><td class="number">1</td>' in (
            shown.text.replace("\n", "")
        )
        tested = form_post(
            admin, site, "/admin/broadcast", "/admin/broadcast/test", to="me@example.org", **mail
        )
        assert tested.status_code == 200 and "A test copy went to me@example.org." in tested.text
        assert [m["To"] for m in mails(settings)] == ["me@example.org"]
        assert recent_runs(db) == []

        form = tokens(shown.text) | mail
        no_csrf = admin.post(
            f"{site}/admin/broadcast/send", data={**mail, "nonce": form["nonce"]}, timeout=10
        )
        assert no_csrf.status_code == 403 and recent_runs(db) == []
        first = admin.post(f"{site}/admin/broadcast/send", data=form, allow_redirects=False)
        again = admin.post(f"{site}/admin/broadcast/send", data=form, allow_redirects=False)
        assert first.status_code == again.status_code == 303
        [run] = recent_runs(db)
        assert first.headers["Location"] == f"/admin/runs/{run.id}"
        assert wait_until_finished(db, run.id).status == "done"
    assert (run.kind, run.topic) == ("broadcast", "transport")
    received = [m for m in mails(settings) if m["To"] != "me@example.org"]
    assert [m["To"] for m in received] == ["tina@example.org"]
    assert received[0]["Subject"] == "Bus strike Bcc: evil@example.org"
    assert received[0]["Bcc"] is None
    assert "/unsubscribe/" in received[0].get_body(("plain",)).get_content()


def test_a_broadcast_without_subject_or_body_is_refused(app: FastAPI, db: Database) -> None:
    with serving(app) as site:
        admin = signed_in(site)
        empty = form_post(
            admin, site, "/admin/broadcast", "/admin/broadcast/preview", subject="", body="Hi"
        )
        assert empty.status_code == 422 and "subject: a broadcast needs one" in empty.text
        blank = form_post(
            admin, site, "/admin/broadcast", "/admin/broadcast/send", subject="Hi", body=" "
        )
        assert blank.status_code == 422 and "body: a broadcast needs some text" in blank.text
    assert recent_runs(db) == []

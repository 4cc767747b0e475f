"""The admin pages over real HTTP, signed in, on real databases and the file backend:
dashboard, posts, subscribers (search, add, CSV import and export), digest preview, a
test copy, "send now" sent once however often it is posted, a run's controls, the
sent-mail viewer and the settings page."""

from __future__ import annotations

import csv
import email
import html
import io
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.policy import default as default_policy
from pathlib import Path

import pytest
import requests
from fastapi import FastAPI
from helpers import (
    READERS,
    USER,
    Tags,
    admin_app,
    admin_settings,
    form_post,
    running,
    signed_in,
    tokens,
    wait_until_finished,
    write_post,
)
from sqlalchemy import update

from pipeline.digest.runs import start_run
from pipeline.ingest import ingest
from pipeline.outbox import counts, get_run, recent_runs
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.storage.models import OutboxItem
from pipeline.web.admin.auth import AdminSession
from pipeline.web.admin.held import HOLD_SECONDS, Held, NotHeld, hold, take
from pipeline.web.app import create_app
from pipeline.web.state import web_state
from subscribers import SubscriberStore


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return admin_settings(tmp_path, database_url, postal_address="1 High Street")


@pytest.fixture
def app(settings: Settings, db: Database, posts_dir: Path) -> FastAPI:
    """Two recent posts and a draft; three confirmed weekly readers, one pending."""
    write_post(posts_dir, "budgets", "Budgets & pilots", timedelta(days=2), "tags: [Budgets]\n")
    write_post(posts_dir, "libraries", "Running libraries", timedelta(days=1))
    write_post(posts_dir, "draft", "Not yet", timedelta(hours=1), "draft: true\n")
    ingest(db, settings)
    app = admin_app(settings, db)
    store: SubscriberStore = web_state(app).subscribers
    for address in READERS:
        store.add(address, name=address.split("@")[0].title(), confirmed=True)
    store.add("pending@example.org")
    return app


@pytest.fixture
def site(app: FastAPI) -> Iterator[str]:
    with running(app) as base_url:
        yield base_url


@pytest.fixture
def admin(site: str) -> requests.Session:
    return signed_in(site)


def outbox(settings: Settings) -> list[Path]:
    return sorted((settings.data_dir / "outbox").glob("*.eml"))


def test_dashboard_shows_counts_next_runs_charts_and_last_runs(
    site: str, admin: requests.Session, db: Database, settings: Settings
) -> None:
    run = start_run(db, settings, "weekly", datetime.now(UTC)).run
    with db.session() as session:
        session.execute(update(OutboxItem).values(status="sent"))
    page = admin.get(f"{site}/admin/", timeout=10).text
    assert "published posts" in page and "1 drafts" in page
    assert "confirmed subscribers" in page and "1 pending confirmation" in page
    assert "Next digests" in page and "?frequency=monthly" in page
    tags = Tags(page)
    assert len(tags.all("svg")) == 3 and tags.all("polyline", **{"class": "series"})
    assert len(tags.all("rect", **{"class": "bar bar-sent"})) == 1
    assert f"run {run.id} (weekly {run.period}): 3 sent, 0 failed</title>" in page
    assert f'href="/admin/runs/{run.id}"' in page


def test_posts_lists_drafts_too(site: str, admin: requests.Session) -> None:
    page = admin.get(f"{site}/admin/posts", timeout=10).text
    assert "Budgets &amp; pilots" in page and "Not yet" in page
    assert 'href="/posts/budgets"' in page and 'href="/posts/draft"' not in page


def test_posts_marks_undated_posts(
    site: str, admin: requests.Session, db: Database, settings: Settings, posts_dir: Path
) -> None:
    (posts_dir / "notes.txt").write_text("Field notes\n\nAnn Lee\n\nNo date given.\n")
    ingest(db, settings)
    page = admin.get(f"{site}/admin/posts", timeout=10).text
    [row] = [row for row in page.split("<tr>") if "Field notes" in row]
    assert 'class="status status-undated"' in row and ">undated</span>" in row
    [dated] = [row for row in page.split("<tr>") if "Running libraries" in row]
    assert "undated" not in dated


def test_subscriber_search_and_add(site: str, admin: requests.Session, app: FastAPI) -> None:
    found = admin.get(f"{site}/admin/subscribers", params={"q": "BO@"}, timeout=10).text
    assert "bo@example.org" in found and "ann@example.org" not in found
    assert '<option value="weekly" selected>' in found  # the add form's default
    by_name = admin.get(f"{site}/admin/subscribers", params={"q": "cy"}, timeout=10).text
    assert "cy@example.org" in by_name and "1 subscriber matching" in by_name
    literal = admin.get(f"{site}/admin/subscribers", params={"q": "%"}, timeout=10).text
    assert "No one matches." in literal

    added = form_post(
        admin, site, "/admin/subscribers", "/admin/subscribers",
        email="Dee@Example.org", name="Dee", frequency="daily", confirmed="yes",
    )  # fmt: skip
    assert added.status_code == 303
    shown = admin.get(f"{site}{added.headers['Location']}", timeout=10).text
    assert "Added Dee@example.org." in shown
    dee = web_state(app).subscribers.find("dee@example.org")
    assert (dee.status, dee.frequency, dee.name) == ("confirmed", "daily", "Dee")

    refused = form_post(admin, site, "/admin/subscribers", "/admin/subscribers", email="nope")
    assert refused.status_code == 422 and "Not added:" in refused.text
    assert 'value="nope"' in refused.text  # what was typed stays in the form


def test_an_admin_cannot_bring_back_someone_who_left(
    site: str, admin: requests.Session, app: FastAPI
) -> None:
    store = web_state(app).subscribers
    store.record_complaint("bo@example.org")
    refused = form_post(
        admin, site, "/admin/subscribers", "/admin/subscribers",
        email="bo@example.org", confirmed="yes",
    )  # fmt: skip
    assert refused.status_code == 422 and "kept out (complained)" in refused.text
    assert store.find("bo@example.org").status == "complained"


def test_csv_export_and_import_round_trip(site: str, admin: requests.Session, app: FastAPI) -> None:
    web_state(app).subscribers.add("=cmd@example.org", name="=HYPERLINK(1)", confirmed=True)
    exported = admin.get(f"{site}/admin/subscribers/export.csv", timeout=10)
    assert exported.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert exported.headers["Content-Disposition"].startswith('attachment; filename="subscribers-')
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {row["email"] for row in rows} >= {*READERS, "pending@example.org"}
    risky = next(row for row in rows if "cmd@" in row["email"])
    assert risky["name"] == "'=HYPERLINK(1)"  # a spreadsheet shows it, never runs it

    upload = exported.text + "new@example.org,New Person,,monthly,,,,\r\nnot an address,,,,,,,\r\n"
    page = admin.get(f"{site}/admin/subscribers", timeout=10).text
    answer = admin.post(
        f"{site}/admin/subscribers/import",
        data={"csrf": tokens(page)["csrf"], "confirmed": "yes"},
        files={"file": ("list.csv", upload.encode(), "text/csv")},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    figures = dict(
        re.findall(r'<th scope="row">([^<]+)</th><td class="number">([\d,]+)', answer.text)
    )
    assert figures == {
        "Rows read": str(len(rows) + 2),
        "Imported (new)": "1",
        "Merged (already on the list)": str(len(rows)),
        "Kept out (they left the list)": "0",
        "Refused": "1",
    }
    assert f'<td class="number">{len(rows) + 3}</td>' in answer.text  # the refused row's line
    store = web_state(app).subscribers
    new = store.find("new@example.org")
    assert (new.status, new.frequency, new.name) == ("confirmed", "monthly", "New Person")
    assert store.find("pending@example.org").status == "pending"  # its status column said so
    assert store.find("=cmd@example.org").name == "=HYPERLINK(1)"  # unprotected on the way in


GHOST_EXPORT = (
    "id,email,name,note,subscribed_to_emails,complimentary_plan,stripe_customer_id,"
    "created_at,deleted_at,labels,tiers\n"
    '1,jamie@example.org,Jamie,,true,false,,2022-03-16T08:03:11.000Z,,"budgets,VIP",Free\n'
    "2,pat@example.org,Pat,,false,false,,2022-04-06T07:42:08.000Z,,,Free\n"
)


def preview_import(site: str, admin: requests.Session) -> tuple[str, str]:
    """Upload the Ghost export for a preview (as confirmed); the page and its held token."""
    page = admin.get(f"{site}/admin/subscribers", timeout=10).text
    answer = admin.post(
        f"{site}/admin/subscribers/import",
        data={"csrf": tokens(page)["csrf"], "confirmed": "yes", "preview": "yes"},
        files={"file": ("member-export.csv", GHOST_EXPORT.encode(), "text/csv")},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    [held] = re.findall(r'name="held" value="([^"]+)"', answer.text)
    return answer.text, held


def test_an_import_preview_writes_nothing_then_confirming_imports_the_kept_file(
    site: str, admin: requests.Session, app: FastAPI, settings: Settings
) -> None:
    store = web_state(app).subscribers
    preview, held = preview_import(site, admin)
    assert "Import preview: nothing written yet" in preview and "Read as a Ghost export" in preview
    assert "jamie@example.org: new, confirmed, weekly, topics Budgets, labels VIP" in preview
    assert "pat@example.org: new, unsubscribed, weekly" in preview
    assert store.find("jamie@example.org") is None
    # The upload waits on the server, readable by its owner only.
    [kept] = (settings.data_dir / "imports").iterdir()
    assert kept.read_bytes() == GHOST_EXPORT.encode()
    assert kept.stat().st_mode & 0o777 == 0o600
    assert (settings.data_dir / "imports").stat().st_mode & 0o777 == 0o700

    confirm = f"{site}/admin/subscribers/import/confirm"
    without_csrf = admin.post(confirm, data={"held": held}, timeout=10)
    assert without_csrf.status_code == 403 and kept.exists()
    other_admin = signed_in(site)
    page = other_admin.get(f"{site}/admin/subscribers", timeout=10).text
    stolen = other_admin.post(
        confirm, data={"csrf": tokens(page)["csrf"], "held": held}, timeout=10
    )
    assert stolen.status_code == 409 and "another session" in stolen.text and kept.exists()
    page = admin.get(f"{site}/admin/subscribers", timeout=10).text
    forged = admin.post(confirm, data={"csrf": tokens(page)["csrf"], "held": held[:-2]}, timeout=10)
    assert forged.status_code == 409 and store.find("jamie@example.org") is None

    done = admin.post(confirm, data={"csrf": tokens(page)["csrf"], "held": held}, timeout=10)
    assert done.status_code == 200, done.text
    assert "Import finished" in done.text and "VIP (1)" in done.text
    jamie = store.find("jamie@example.org")
    assert (jamie.status, jamie.topics, jamie.labels) == ("confirmed", ["Budgets"], ["VIP"])
    assert store.find("pat@example.org").status == "unsubscribed"
    assert not kept.exists()
    again = admin.post(confirm, data={"csrf": tokens(page)["csrf"], "held": held}, timeout=10)
    assert again.status_code == 409 and "imported already" in again.text


def test_a_kept_import_expires(settings: Settings) -> None:
    session = AdminSession("admin", "session-id", "csrf-token")
    start = 1_900_000_000.0
    token = hold(settings, session, Held(b"email\nann@example.org\n", "x.csv", False), now=start)
    [kept] = (settings.data_dir / "imports").iterdir()
    with pytest.raises(NotHeld, match="expired"):
        take(settings, session, token, now=start + HOLD_SECONDS + 1)
    assert not kept.exists()
    # A preview nobody confirmed goes with the next preview once expired.
    hold(settings, session, Held(b"email\n", "y.csv", False))
    long_ago = 1_000_000_000  # 2001: expired whatever the clock says
    os.utime(next((settings.data_dir / "imports").iterdir()), (long_ago, long_ago))
    token = hold(settings, session, Held(b"email\nbo@example.org\n", "z.csv", True))
    [left] = (settings.data_dir / "imports").iterdir()
    assert take(settings, session, token) == Held(b"email\nbo@example.org\n", "z.csv", True)
    assert not left.exists()


def test_an_import_without_a_file_or_not_utf8_is_refused(
    site: str, admin: requests.Session
) -> None:
    page = admin.get(f"{site}/admin/subscribers", timeout=10).text
    for content, message in ((b"", "Choose a CSV file"), (b"\xff\xfe\x00bad", "Not UTF-8")):
        answer = admin.post(
            f"{site}/admin/subscribers/import",
            data={"csrf": tokens(page)["csrf"]},
            files={"file": ("list.csv", content, "text/csv")},
            timeout=10,
        )
        assert answer.status_code == 422 and message in answer.text


def test_preview_shows_the_digest_a_subscriber_would_get(
    site: str, admin: requests.Session, app: FastAPI
) -> None:
    web_state(app).subscribers.add("ann@example.org", topics=["Budgets"])
    page = admin.get(
        f"{site}/admin/digest", params={"frequency": "weekly", "email": "ann@example.org"}
    )
    assert page.status_code == 200
    assert "Policy Notes: Budgets &amp; pilots (" in page.text
    assert "To Ann &lt;ann@example.org&gt;" in page.text
    [frame] = Tags(page.text).all("iframe")
    assert "sandbox" in frame and not frame["sandbox"]  # no exceptions granted
    assert frame["src"] == "/admin/digest/preview.html?frequency=weekly&email=ann%40example.org"
    text = page.text.split('<pre class="mail-text">')[1]
    assert "Budgets &amp; pilots" in text and "Running libraries" not in text
    assert "/unsubscribe/" in text  # ann's own links, as sent

    body = admin.get(f"{site}{frame['src']}", timeout=10)
    assert body.status_code == 200 and "Budgets &amp; pilots" in body.text
    assert "1 High Street" in body.text

    sample = admin.get(f"{site}/admin/digest", params={"frequency": "daily"}, timeout=10).text
    assert "Running libraries" in sample and "reader@example.org" in sample
    unknown = admin.get(f"{site}/admin/digest", params={"email": "who@example.org"}, timeout=10)
    assert unknown.status_code == 404 and "who@example.org is not on the list." in unknown.text


def test_email_bodies_are_framed_by_admin_pages_only(site: str, admin: requests.Session) -> None:
    """The digest page may frame its own origin; the framed body runs nothing, may only
    be framed by this origin, and keeps its inline styles."""
    page = admin.get(f"{site}/admin/digest", timeout=10)
    assert "frame-src 'self'" in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    body = admin.get(f"{site}/admin/digest/preview.html", timeout=10)
    policy = body.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in policy and "sandbox" in policy
    assert "style-src 'unsafe-inline'" in policy and "script-src" not in policy
    assert "default-src 'none'" in policy
    assert body.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert body.headers["Cache-Control"] == "no-store"


def test_a_test_copy_goes_to_the_address_given_and_changes_nothing(
    site: str, admin: requests.Session, settings: Settings, db: Database
) -> None:
    page = admin.get(f"{site}/admin/digest", timeout=10).text
    assert 'name="to" type="email" required maxlength="320" value="editor@example.org"' in page
    sent = form_post(
        admin, site, "/admin/digest", "/admin/digest/test", frequency="weekly", to="Me@Example.org"
    )
    assert sent.status_code == 303
    assert (
        "A test copy went to Me@example.org."
        in admin.get(f"{site}{sent.headers['Location']}", timeout=10).text
    )
    [eml] = outbox(settings)
    message = email.message_from_bytes(eml.read_bytes(), policy=default_policy)
    assert message["To"] == "Me@example.org"
    assert recent_runs(db) == []
    refused = form_post(
        admin, site, "/admin/digest", "/admin/digest/test", frequency="weekly", to="not mail"
    )
    assert refused.status_code == 422 and "Not sent:" in refused.text


def test_previews_and_test_copies_pick_the_posts_of_the_apps_clock(
    settings: Settings, db: Database, app: FastAPI
) -> None:
    """A day's digest at a moment a day and a half back: the budgets post (two days old)
    and not the libraries one (a day old, still to come then)."""
    moment = datetime.now(UTC) - timedelta(hours=36)
    with running(create_app(settings, db, clock=lambda: moment)) as base_url:
        admin = signed_in(base_url)
        preview = admin.get(f"{base_url}/admin/digest", params={"frequency": "daily"}).text
        text = preview.split('<pre class="mail-text">')[1]
        assert "Budgets &amp; pilots" in text and "Running libraries" not in text
        sent = form_post(
            admin, base_url, "/admin/digest", "/admin/digest/test", frequency="daily", to=USER
        )
        assert sent.status_code == 303
    [eml] = outbox(settings)
    copy = eml.read_text()
    assert "Budgets & pilots" in copy and "Running libraries" not in copy


def test_send_now_asks_then_sends_once_however_often_posted(
    site: str, admin: requests.Session, settings: Settings, db: Database
) -> None:
    confirm = admin.get(f"{site}/admin/digest/send", params={"frequency": "weekly"}, timeout=10)
    assert "to <strong>3</strong> subscribers?" in confirm.text
    form = tokens(confirm.text) | {"frequency": "weekly"}
    assert form.keys() == {"csrf", "nonce", "frequency"}

    first = admin.post(f"{site}/admin/digest/send", data=form, allow_redirects=False, timeout=10)
    again = admin.post(f"{site}/admin/digest/send", data=form, allow_redirects=False, timeout=10)
    [run] = recent_runs(db)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"] == f"/admin/runs/{run.id}"
    assert wait_until_finished(db, run.id).status == "done"
    mailed = [email.message_from_bytes(path.read_bytes())["To"] for path in outbox(settings)]
    assert sorted(mailed) == ["Ann <ann@example.org>", "Bo <bo@example.org>", "Cy <cy@example.org>"]

    # A fresh form for the same period finds the run done, and offers no button.
    later = admin.get(f"{site}/admin/digest/send", params={"frequency": "weekly"}, timeout=10)
    assert "is done: nothing to send" in later.text and "nonce" not in tokens(later.text)
    page = admin.get(f"{site}/admin/runs/{run.id}", timeout=10).text
    assert '<span class="status status-done" id="run-status">done</span>' in page
    assert len(outbox(settings)) == 3 and len(recent_runs(db)) == 1


def test_a_run_can_be_paused_resumed_and_cancelled(
    site: str, admin: requests.Session, settings: Settings, db: Database, app: FastAPI
) -> None:
    store: SubscriberStore = web_state(app).subscribers
    run = start_run(db, settings, "weekly", datetime.now(UTC)).run  # planned; nothing sends it
    with db.session() as session:
        session.execute(
            update(OutboxItem)
            .where(OutboxItem.subscriber_id == store.find("ann@example.org").id)
            .values(status="failed", attempts=5, last_error="550 5.1.1 mailbox unavailable")
        )
    page = f"/admin/runs/{run.id}"
    shown = admin.get(f"{site}{page}", timeout=10).text
    assert '<meta http-equiv="refresh" content="3">' in shown
    assert "550 5.1.1 mailbox unavailable" in shown and "ann@example.org" in shown

    assert form_post(admin, site, page, f"{page}/pause").status_code == 303
    assert get_run(db, run.id).status == "paused"
    assert "refresh" not in admin.get(f"{site}{page}", timeout=10).text
    assert form_post(admin, site, page, f"{page}/resume").status_code == 303
    assert wait_until_finished(db, run.id).status == "done"
    assert len(outbox(settings)) == 2  # the failed row is not sent again

    store.add("mo@example.org", frequency="monthly", confirmed=True)
    monthly = start_run(db, settings, "monthly", datetime.now(UTC)).run
    page = f"/admin/runs/{monthly.id}"
    assert form_post(admin, site, page, f"{page}/cancel").status_code == 303
    assert get_run(db, monthly.id).status == "cancelled"
    assert counts(db, [monthly.id])[monthly.id]["skipped"] == 1
    assert len(outbox(settings)) == 2

    assert form_post(admin, site, page, f"{page}/explode").status_code == 404
    assert admin.get(f"{site}/admin/runs/999", timeout=10).status_code == 404


def test_the_sent_mail_viewer_lists_and_shows_messages(
    site: str, admin: requests.Session, settings: Settings
) -> None:
    form_post(
        admin, site, "/admin/digest", "/admin/digest/test", frequency="weekly", to="one@example.org"
    )
    form_post(
        admin, site, "/admin/digest", "/admin/digest/test", frequency="weekly", to="two@example.org"
    )
    first, second = outbox(settings)
    listing = admin.get(f"{site}/admin/outbox", timeout=10).text
    assert listing.index(second.name) < listing.index(first.name)  # newest first
    assert "two@example.org" in listing

    shown = admin.get(f"{site}/admin/outbox/{second.name}", timeout=10)
    assert shown.status_code == 200
    assert '<th scope="row">List-Unsubscribe-Post</th>' in shown.text
    assert "Running libraries" in shown.text.split('<pre class="mail-text">')[1]
    [frame] = Tags(shown.text).all("iframe")
    assert frame["src"] == f"/admin/outbox/{second.name}/html"
    assert "sandbox" in frame and not frame["sandbox"]
    body = admin.get(f"{site}{frame['src']}", timeout=10)
    assert body.status_code == 200 and "Running libraries" in body.text

    leak = "Subject: leaked\n\nnot for the viewer\n"
    (settings.data_dir / "secret.eml").write_text(leak)
    (settings.data_dir / "outbox" / ".hidden.eml").write_text(leak)
    (settings.data_dir / "outbox" / "notes.txt").write_text(leak)
    for name in ("..%2Fsecret.eml", "%2E%2E%2Fsecret.eml", ".hidden.eml", "notes.txt", "none.eml"):
        for path in (f"/admin/outbox/{name}", f"/admin/outbox/{name}/html"):
            answer = admin.get(f"{site}{path}", timeout=10)
            assert answer.status_code == 404 and "leaked" not in answer.text, path


def test_the_sent_mail_viewer_follows_no_symlink(
    site: str, admin: requests.Session, settings: Settings
) -> None:
    folder = settings.data_dir / "outbox"
    folder.mkdir(parents=True, exist_ok=True)
    secret = settings.data_dir / "secret.txt"
    secret.write_text("Subject: leaked\n\nnot for the viewer\n")
    (folder / "20300101T000000-planted.eml").symlink_to(secret)
    (folder / "20300101T000001-pipe.eml").symlink_to("/dev/zero")
    listing = admin.get(f"{site}/admin/outbox", timeout=10)
    assert listing.status_code == 200
    assert "planted" not in listing.text and "leaked" not in listing.text
    for name in ("20300101T000000-planted.eml", "20300101T000001-pipe.eml"):
        for path in (f"/admin/outbox/{name}", f"/admin/outbox/{name}/html"):
            answer = admin.get(f"{site}{path}", timeout=10)
            assert answer.status_code == 404 and "leaked" not in answer.text, path


@pytest.mark.parametrize("path", ["/admin/subscribers", "/admin/posts", "/admin/outbox"])
def test_every_admin_list_bounds_its_page_number(
    site: str, admin: requests.Session, path: str
) -> None:
    for huge in ("9223372036854775807", "1" + "0" * 40):
        answer = admin.get(f"{site}{path}?page={huge}", timeout=10)
        assert answer.status_code == 200, huge
    for bad in ("-1", "0", "abc", "1.5", "9" * 5000):
        assert admin.get(f"{site}{path}?page={bad}", timeout=10).status_code == 404, bad


def test_a_page_past_the_end_shows_the_last_one(site: str, admin: requests.Session) -> None:
    store_page = admin.get(f"{site}/admin/posts?page=9223372036854775807", timeout=10).text
    assert "Running libraries" in store_page


def test_the_settings_page_masks_secrets(site: str, admin: requests.Session) -> None:
    page = admin.get(f"{site}/admin/settings", timeout=10).text
    assert "NEWSLETTER_ADMIN_USERNAME" in page and "editor@example.org" in page
    assert "NEWSLETTER_ADMIN_PASSWORD" in page and "********" in page
    assert "correct horse" not in page


def test_the_settings_page_hides_passwords_inside_urls(tmp_path: Path, db: Database) -> None:
    """The app runs on `db`; the URLs shown are the settings' (never opened here)."""
    leaky = admin_settings(
        tmp_path,
        "postgresql+psycopg://app:dbpass-1@db.example/news",
        broker_url="redis://:brokerpass-2@127.0.0.1:6379/0",
        sources=[{"name": "partner", "kind": "feed", "url": "https://rd:feedpass-3@f.example/x"}],
    )
    with running(admin_app(leaky, db)) as base_url:
        page = signed_in(base_url).get(f"{base_url}/admin/settings", timeout=10).text
    assert "pass-" not in page
    for shown in ("app:********@db.example", "redis://:********@127.0.0.1", "rd:********@f"):
        assert shown in page


def test_a_subscribers_page_shows_what_is_stored_and_acts(
    site: str, admin: requests.Session, app: FastAPI
) -> None:
    store = web_state(app).subscribers
    bo = store.find("bo@example.org")
    store.record_bounce("bo@example.org", hard=False, threshold=3)
    shown = admin.get(f"{site}/admin/subscribers/{bo.id}", timeout=10).text
    assert "bo@example.org" in shown and "Bo" in shown
    assert re.search(r"Bounces</th><td class=\"number\">1<", shown)
    assert "<td>confirm</td><td>admin</td>" in shown  # the consent history
    assert "Resend the confirmation" not in shown  # confirmed already

    bad = form_post(
        admin, site, f"/admin/subscribers/{bo.id}", f"/admin/subscribers/{bo.id}/edit",
        name="Bo", frequency="daily", timezone="Mars/Base",
    )  # fmt: skip
    assert bad.status_code == 422 and "bad time zone" in bad.text
    left = form_post(
        admin, site, f"/admin/subscribers/{bo.id}", f"/admin/subscribers/{bo.id}/unsubscribe"
    )
    assert left.status_code == 303
    assert store.find("bo@example.org").status == "unsubscribed"
    assert [c.method for c in store.consents(bo.id)][-1] == "admin"

    listed = admin.get(f"{site}/admin/subscribers", params={"status": "unsubscribed"}).text
    assert "bo@example.org" in listed and "ann@example.org" not in listed
    assert admin.get(f"{site}/admin/subscribers", params={"status": "gone"}).status_code == 404

    unsure = form_post(
        admin, site, f"/admin/subscribers/{bo.id}", f"/admin/subscribers/{bo.id}/erase"
    )
    assert unsure.status_code == 422 and store.find("bo@example.org") is not None
    erased = form_post(
        admin, site, f"/admin/subscribers/{bo.id}", f"/admin/subscribers/{bo.id}/erase", sure="yes"
    )
    assert erased.status_code == 200 and store.find("bo@example.org") is None
    assert store.is_suppressed("bo@example.org")
    assert admin.get(f"{site}/admin/subscribers/{bo.id}", timeout=10).status_code == 404


def test_the_embeddable_sign_up_form_posts_to_subscribe(
    site: str, admin: requests.Session, app: FastAPI
) -> None:
    page = admin.get(f"{site}/admin/subscribers", timeout=10).text
    snippet = html.unescape(page.split('<code id="embed-snippet">')[1].split("</code>")[0])
    form = Tags(snippet)
    [action] = [tag["action"] for tag in form.all("form")]
    assert action == "http://127.0.0.1:8000/subscribe"  # SITE_URL's sign-up
    names = {tag["name"] for tag in form.all("input")} | {tag["name"] for tag in form.all("select")}
    assert names == {"email", "frequency", "website"}
    pasted = {"Origin": "https://another.example", "X-Forwarded-For": "203.0.113.50"}
    answer = requests.post(
        action.replace("http://127.0.0.1:8000", site),
        data={"email": "from.elsewhere@example.org", "frequency": "monthly", "website": ""},
        headers=pasted,
        timeout=10,
    )
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    person = web_state(app).subscribers.find("from.elsewhere@example.org")
    assert (person.status, person.frequency) == ("pending", "monthly")
    bot = requests.post(
        f"{site}/subscribe",
        data={"email": "bot@example.org", "website": "http://spam.example"},
        headers=pasted,
        timeout=10,
    )
    assert bot.status_code == 200 and web_state(app).subscribers.find("bot@example.org") is None

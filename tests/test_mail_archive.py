"""The mail archive over real HTTP: each sent mail (a digest, a broadcast, a per-post mail)
links to its public page ("View in browser"), which shows the mail with nobody's address,
name, token or personal link, is valid HTML, and is listed at `/archive` (in pages) and in
its Atom feed; a run not sent yet has no page. Mails go through the file backend and
through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from html import unescape
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import html5lib
import pytest
import requests
from fastapi import FastAPI
from helpers import Tags, running, valid_page
from smtp_server import SMTPServer

from pipeline.archive import keep
from pipeline.digest import message_parts
from pipeline.digest.each import start_post_runs
from pipeline.digest.runs import start_run
from pipeline.editorial.broadcast import broadcast
from pipeline.editorial.broadcast_runs import start_broadcast
from pipeline.ingest import ingest
from pipeline.mail.template import OutgoingMessage, build_template
from pipeline.outbox import send_run
from pipeline.settings import Settings, load_settings
from pipeline.storage import Database
from pipeline.storage.models import DigestRun
from pipeline.web import create_app
from pipeline.web.pages import PAGE_SIZE
from pipeline.web.state import web_state
from subscribers import Subscriber, SubscriberStore

pytest_plugins = ["smtp_server"]
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
PEOPLE = [("ann@example.org", "Ann Lee"), ("bo.chen@example.net", "Bo Chen")]
URL = re.compile(r"""https?://[^\s"'<>)\]]+""")


def write_posts(folder: Path, now: datetime, gap: timedelta = timedelta(days=1)) -> None:
    for number, title in enumerate(["Damp homes", "Who pays for repairs"]):
        when = (now - gap * (number + 1)).isoformat()
        (folder / f"post-{number}.md").write_text(
            f"---\ntitle: {title}\ndate: {when}\nauthor: Cy Diaz\n---\nWhat {title} says.\n",
            encoding="utf-8",
        )


def configured(
    settings: Settings, smtp_server: SMTPServer, backend: str, *, click_counting: bool
) -> Settings:
    return load_settings(
        **settings.model_dump(include={"database_url", "data_dir", "site_url", "sources"}),
        **(smtp_server.settings if backend == "smtp" else {"email_backend": "file"}),
        secret_key="archive-test-secret-0123456789",
        email_from="Riverside Notes <news@blog.example.org>",
        click_counting=click_counting,
    )


def confirmed_people(db: Database, config: Settings, frequency: str) -> list[Subscriber]:
    store = SubscriberStore(db.sessions, default_timezone=config.timezone)
    return [
        store.add(address, name=name, frequency=frequency, confirmed=True)[0]
        for address, name in PEOPLE
    ]


def sent_mails(config: Settings, smtp_server: SMTPServer) -> list[bytes]:
    if config.email_backend == "smtp":
        return [envelope.raw for envelope in smtp_server.received]
    return [path.read_bytes() for path in sorted((config.data_dir / "outbox").glob("*.eml"))]


def valid_mail_page(response: requests.Response) -> str:
    """The page, asserted to be 200 and valid HTML5 (html5lib's strict parser); a mail's
    `<time datetime>` holds a date, which HTML allows."""
    assert response.status_code == 200, response.url
    html5lib.HTMLParser(strict=True).parse(response.text)
    return response.text


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def view_in_browser(raw: bytes) -> str:
    """The copy's "View in browser" link, asserted to be the same in its HTML and text."""
    html, text = message_parts(OutgoingMessage("", (), "", raw))
    [link] = [str(a["href"]) for a in Tags(html).all("a") if "/archive/" in (a["href"] or "")]
    assert f"View in browser: {link}" in text
    return link


def links_in(raw: bytes) -> set[str]:
    """Every address a copy carries: in its headers, its text and its HTML."""
    html, text = message_parts(OutgoingMessage("", (), "", raw))
    headers = " ".join(str(value) for value in parse(raw).values())
    return set(URL.findall(f"{headers} {text} {unescape(html)}"))


def assert_public(body: str, raws: list[bytes], people: list[Subscriber], app: FastAPI) -> None:
    """The page of the mail in `raws` (a copy for each of `people`) shows nobody's address,
    name or token, and no link that differs between copies (unsubscribe, preferences, or a
    click link tied to one person): every link it has, each copy has too, or it is the site."""
    page = unescape(body)
    for person in people:
        assert person.email not in page and person.name not in page
        assert person.email.split("@")[0] not in page
        assert web_state(app).signer.manage_token(person) not in page
    for raw in raws:
        tokens = re.findall(r"/(?:unsubscribe|preferences)/([\w.-]+)", parse(raw).as_string())
        assert tokens and not any(token in page for token in tokens)
    assert "%%" not in page and "/unsubscribe/" not in page and "/preferences/" not in page
    copies = [links_in(raw) for raw in raws]
    shared = set.intersection(*copies)
    personal = set.union(*copies) - shared
    assert personal and not any(link in page for link in personal)
    assert set(URL.findall(page)) - shared <= {web_state(app).settings.base_url + "/"}


@pytest.mark.parametrize("backend", ["file", "smtp"])
def test_every_copy_links_to_one_public_page_without_personal_data(
    backend: str, settings: Settings, db: Database, posts_dir: Path, smtp_server: SMTPServer
) -> None:
    config = configured(settings, smtp_server, backend, click_counting=True)
    now = datetime.now(UTC)  # posts are news when first seen, and that is now
    write_posts(posts_dir, now)
    ingest(db, config)
    people = confirmed_people(db, config, "weekly")
    run = start_run(db, config, "weekly", now).run
    app = create_app(config, db)
    with running(app) as base:
        assert requests.get(f"{base}/archive/weekly/{run.period}", timeout=10).status_code == 404
        assert send_run(db, config, run.id).sent == 2

        raws = sent_mails(config, smtp_server)
        assert len(raws) == 2
        [link] = {view_in_browser(raw) for raw in raws}
        assert link == f"https://blog.example.org/archive/weekly/{run.period}"

        page = requests.get(base + urlsplit(link).path, timeout=10)
        body = valid_mail_page(page)
        assert "Damp homes" in body and "Who pays for repairs" in body and "/r/" in body
        assert "script-src" not in page.headers["Content-Security-Policy"]
        assert_public(body, raws, people, app)

        listing = valid_page(requests.get(f"{base}/archive", timeout=10))
        subject = parse(raws[0])["Subject"]
        assert f'href="/archive/weekly/{run.period}"' in listing
        assert subject.replace("&", "&amp;") in listing
        feed = feedparser.parse(requests.get(f"{base}/archive/atom.xml", timeout=10).content)
        assert not feed.bozo
        [entry] = feed.entries
        assert entry.link == link and entry.title == subject

        # A second sender's pass (a resumed run) keeps the first copy.
        send_run(db, config, run.id)
        assert requests.get(base + urlsplit(link).path, timeout=10).text == body


@pytest.mark.parametrize("backend", ["file", "smtp"])
def test_a_broadcast_has_a_public_page_in_the_archive_and_its_feed(
    backend: str, settings: Settings, db: Database, smtp_server: SMTPServer
) -> None:
    config = configured(settings, smtp_server, backend, click_counting=True)
    people = confirmed_people(db, config, "weekly")
    mail = broadcast(
        "Our summer event",
        "Dear readers,\n\nJoin us on **12 June** at the [institute](https://blog.example.org/visit).\n",
    )
    run = start_broadcast(db, mail, datetime.now(UTC)).run
    app = create_app(config, db)
    with running(app) as base:
        assert requests.get(f"{base}/archive/broadcast/{mail.key}", timeout=10).status_code == 404
        assert send_run(db, config, run.id).sent == 2

        raws = sent_mails(config, smtp_server)
        assert len(raws) == 2
        [link] = {view_in_browser(raw) for raw in raws}
        assert link == f"https://blog.example.org/archive/broadcast/{mail.key}"
        body = valid_mail_page(requests.get(base + urlsplit(link).path, timeout=10))
        assert "<strong>12 June</strong>" in body
        assert 'href="https://blog.example.org/visit"' in body
        assert_public(body, raws, people, app)

        listing = valid_page(requests.get(f"{base}/archive", timeout=10))
        assert f'href="/archive/broadcast/{mail.key}">Our summer event</a>' in listing
        feed = feedparser.parse(requests.get(f"{base}/archive/atom.xml", timeout=10).content)
        assert not feed.bozo
        [entry] = feed.entries
        assert entry.link == link and entry.title == "Our summer event"


@pytest.mark.parametrize("backend", ["file", "smtp"])
def test_each_per_post_mail_has_a_public_page_without_personal_links(
    backend: str, settings: Settings, db: Database, posts_dir: Path, smtp_server: SMTPServer
) -> None:
    config = configured(settings, smtp_server, backend, click_counting=True)
    now = datetime.now(UTC)  # posts are news when first seen, and that is now
    write_posts(posts_dir, now, gap=timedelta(hours=1))
    ingest(db, config)
    people = confirmed_people(db, config, "each")
    runs = [started.run for started in start_post_runs(db, config, now)]
    assert len(runs) == 2
    for run in runs:
        assert send_run(db, config, run.id).sent == 2

    copies: dict[str, list[bytes]] = defaultdict(list)
    for raw in sent_mails(config, smtp_server):
        copies[view_in_browser(raw)].append(raw)
    assert sorted(copies) == sorted(
        f"https://blog.example.org/archive/each/{run.period}" for run in runs
    )
    app = create_app(config, db)
    with running(app) as base:
        for link, raws in copies.items():
            assert len(raws) == 2
            body = valid_mail_page(requests.get(base + urlsplit(link).path, timeout=10))
            assert "/r/" in body  # the post's counting link, the same in every copy
            assert_public(body, raws, people, app)
        listing = valid_page(requests.get(f"{base}/archive", timeout=10))
        assert all(f'href="{urlsplit(link).path}"' in listing for link in copies)
        feed = feedparser.parse(requests.get(f"{base}/archive/atom.xml", timeout=10).content)
        assert sorted(entry.link for entry in feed.entries) == sorted(copies)


def test_archive_pages_are_listed_newest_first_in_pages(settings: Settings, db: Database) -> None:
    template = build_template(
        sender="Riverside Notes <news@blog.example.org>",
        subject="Letter",
        text="Hi %%name%%",
        html_body="<!doctype html><html><head><title>t</title></head><body>"
        '<p>Hi %%name%% (%%email%%)</p><a href="%%unsubscribe_url%%">out</a></body></html>',
        variables=("unsubscribe_url",),
    )
    total = PAGE_SIZE + 3
    with db.session() as session:
        for number in range(total):
            moment = NOW + timedelta(days=number)
            session.add(
                DigestRun(
                    id=number + 1,
                    frequency="daily",
                    period=moment.date().isoformat(),
                    created=moment,
                    cutoff=moment,
                    expires_at=moment,
                )
            )
    for number in range(total):
        moment = NOW + timedelta(days=number)
        kept = keep(
            db,
            run_id=number + 1,
            run_kind="digest",
            frequency="daily",
            period=moment.date().isoformat(),
            template=template,
            base_url="https://blog.example.org",
            now=moment,
        )
        assert kept
    assert not keep(
        db,
        run_id=1,
        run_kind="digest",
        frequency="daily",
        period=NOW.date().isoformat(),
        template=template,
        base_url="https://blog.example.org",
        now=NOW,
    )
    with running(create_app(settings, db)) as base:
        first = valid_page(requests.get(f"{base}/archive", timeout=10))
        newest = (NOW + timedelta(days=total - 1)).date().isoformat()
        listed = [a["href"] for a in Tags(first).all("a") if "/archive/daily/" in (a["href"] or "")]
        assert len(listed) == PAGE_SIZE and listed == sorted(listed, reverse=True)
        assert listed[0] == f"/archive/daily/{newest}"
        second = valid_page(requests.get(f"{base}/archive?page=2", timeout=10))
        assert second.count('<article class="summary">') == 3
        assert f"/archive/daily/{NOW.date().isoformat()}" in second
        assert requests.get(f"{base}/archive?page=3", timeout=10).status_code == 404
        page = requests.get(f"{base}/archive/daily/{newest}", timeout=10).text
        assert "<p>Hi  ()</p>" in page and 'href="https://blog.example.org/"' in page
        assert requests.get(f"{base}/archive/daily/1999-01-01", timeout=10).status_code == 404

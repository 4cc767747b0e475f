"""A digest end to end: planned, sent through a real SMTP server, parsed as a mail client
would, and its List-Unsubscribe link used (RFC 8058 one-click) against the running site."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from cli_runner import run
from helpers import running
from smtp_server import SMTPServer

from pipeline.digest import message_parts
from pipeline.digest.runs import start_run
from pipeline.ingest import ingest
from pipeline.mail.template import OutgoingMessage
from pipeline.outbox import send_run
from pipeline.settings import Settings, load_settings
from pipeline.storage import Database
from pipeline.web import create_app
from subscribers import SubscriberStore

pytest_plugins = ["smtp_server"]


@pytest.fixture
def settings(
    tmp_path: Path, posts_dir: Path, database_url: str, smtp_server: SMTPServer
) -> Settings:
    return load_settings(
        **smtp_server.settings,
        data_dir=tmp_path / "var",
        database_url=database_url,
        site_url="https://blog.example.org",
        site_title="Policy Notes",
        email_from="Policy Notes <news@blog.example.org>",
        secret_key="digest-e2e-secret-0123456789",
        sources=[{"name": "posts", "kind": "directory", "path": str(posts_dir)}],
    )


def write_posts(folder: Path, count: int) -> None:
    published = datetime.now(UTC) - timedelta(hours=count + 1)
    for number in range(count):
        moment = (published + timedelta(hours=number)).isoformat()
        (folder / f"p{number}.md").write_text(
            f'---\ntitle: "Post {number}: budgets & a < b\\r\\nBcc: evil@example.org"\n'
            f"date: {moment}\nauthor: Ann Lee\n---\n" + ("A paragraph of text. " * 40 + "\n\n") * 3,
            encoding="utf-8",
        )


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def test_digest_round_trip_and_one_click_unsubscribe(
    settings: Settings, db: Database, posts_dir: Path, smtp_server: SMTPServer
) -> None:
    write_posts(posts_dir, 3)
    ingest(db, settings)
    store = SubscriberStore(db.sessions, default_timezone=settings.timezone)
    store.add("ann@example.org", name="Ann Lee", confirmed=True)
    store.add("bo@example.org", name="Bo =?UTF-8?Q?=0A?=Bcc: evil@example.org", confirmed=True)
    run = start_run(db, settings, "weekly", datetime.now(UTC)).run
    report = send_run(db, settings, run.id)
    assert (report.sent, report.failed) == (2, 0)

    raws = [envelope.raw for envelope in smtp_server.received]
    messages = [parse(raw) for raw in raws]
    for raw, message in zip(raws, messages, strict=True):
        assert b"\n" not in raw.replace(b"\r\n", b"")
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
        assert message.get_content_type() == "multipart/alternative"
        parts = [part.get_content_type() for part in message.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        assert message["Bcc"] is None and "evil" not in str(message["To"]).split("<")[-1]
        assert message["Subject"].startswith("Policy Notes: 3 new posts, ")
        assert message["Date"] and message["List-Id"]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert re.fullmatch(r"<[0-9a-f]{32}@blog\.example\.org>", message["Message-ID"])
    assert len({message["Message-ID"] for message in messages}) == 2

    ann = next(m for m in messages if "ann@example.org" in str(m["To"]))
    [https] = re.findall(r"<([^>]+)>", ann["List-Unsubscribe"])  # no mailto nobody reads
    assert https.startswith("https://blog.example.org/unsubscribe/")
    ann_raw = next(raw for raw in raws if b"ann@example.org" in raw)
    _, text = message_parts(OutgoingMessage("", (), "", ann_raw))
    assert urlsplit(https).path.split("/")[-1] in text

    with running(create_app(settings, db)) as base_url:
        response = requests.post(
            base_url + urlsplit(https).path,
            data="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            allow_redirects=False,
            timeout=10,
        )
    assert response.status_code == 200
    assert store.find("ann@example.org").status == "unsubscribed"
    assert store.find("bo@example.org").status == "confirmed"


def test_preview_is_what_is_sent(
    settings: Settings, db: Database, posts_dir: Path, tmp_path: Path
) -> None:
    write_posts(posts_dir, 2)
    ingest(db, settings)
    store = SubscriberStore(db.sessions, default_timezone=settings.timezone)
    store.add("ann@example.org", name="Ann Lee", confirmed=True)
    environment = {
        "DATABASE_URL": settings.effective_database_url,
        "DATA_DIR": str(settings.data_dir),
        "SITE_URL": "https://blog.example.org",
        "SITE_TITLE": "Policy Notes",
        "SECRET_KEY": "digest-e2e-secret-0123456789",
        "EMAIL_FROM": "Policy Notes <news@blog.example.org>",
        # A preview belongs to no run, so its post links cannot go through a run's click
        # counter: with counting off the two bodies must match byte for byte.
        "CLICK_COUNTING": "false",
    }
    previewed = run("digest", "preview", "--email", "ann@example.org", cwd=tmp_path, **environment)
    assert previewed.returncode == 0, previewed.stderr
    html_path, text_path = (Path(line) for line in previewed.stdout.split())
    sent = run("digest", "send", "--yes", cwd=tmp_path, **environment)
    assert sent.returncode == 0, sent.stderr
    [eml] = (settings.data_dir / "outbox").glob("*.eml")
    html, text = message_parts(OutgoingMessage("", (), "", eml.read_bytes()))
    assert (settings.data_dir / "preview" / html_path.name).exists() or html_path.exists()
    assert html == (tmp_path / html_path).read_text(encoding="utf-8")
    assert text == (tmp_path / text_path).read_text(encoding="utf-8")

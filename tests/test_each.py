"""Per-post mail (frequency `each`): one mail per new post, sent by the scheduler's poll
right after ingest and by `digest send --frequency each`, exactly once, to the subscribers
who chose it (through the CLI, imports, the preferences page), with their unsubscribe
links; through the file backend and a real SMTP server; and `kill -9` mid-run then resumed."""

from __future__ import annotations

import email
import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
import requests
from cli_runner import NEWSLETTER, clean_environment, run
from helpers import Tags, add_post, received_by, running
from smtp_server import SMTPServer

from pipeline.digest import message_parts
from pipeline.digest.each import pending_posts, start_post_runs
from pipeline.digest.runs import start_run
from pipeline.mail.template import OutgoingMessage
from pipeline.outbox import send_run
from pipeline.scheduling.jobs import poll
from pipeline.settings import Settings, load_settings
from pipeline.storage import Database, open_database
from pipeline.web import create_app
from pipeline.web.state import web_state
from subscribers import Signup, SubscriberStore

pytest_plugins = ["smtp_server"]
SECRET = "each-test-secret-0123456789"
SUBSCRIBERS = 2_000
KILL_AFTER = 400
CONNECTIONS = 4


def configured(settings: Settings, smtp_server: SMTPServer, backend: str) -> Settings:
    return load_settings(
        **settings.model_dump(include={"database_url", "data_dir", "site_url", "sources"}),
        **(smtp_server.settings if backend == "smtp" else {"email_backend": "file"}),
        secret_key=SECRET,
        email_from="Riverside Notes <news@blog.example.org>",
        click_counting=False,
    )


def write_post(
    folder: Path, name: str, title: str, when: datetime, tags: str = "[Housing]"
) -> None:
    (folder / f"{name}.md").write_text(
        f"---\ntitle: {title}\ndate: {when.isoformat()}\nauthor: Ann Lee\ntags: {tags}\n---\n"
        f"What {title} says.\n",
        encoding="utf-8",
    )


def mails(config: Settings, smtp_server: SMTPServer) -> list[EmailMessage]:
    if config.email_backend == "smtp":
        raws = [envelope.raw for envelope in smtp_server.received]
    else:
        raws = [path.read_bytes() for path in (config.data_dir / "outbox").glob("*.eml")]
    parsed = [email.message_from_bytes(raw, policy=default) for raw in raws]
    return [message for message in parsed if isinstance(message, EmailMessage)]


def to(message: EmailMessage) -> str:
    return str(message["To"]).split("<")[-1].rstrip(">")


@pytest.mark.parametrize("backend", ["file", "smtp"])
def test_the_poll_sends_each_new_post_once_to_those_who_chose_it(
    backend: str, settings: Settings, db: Database, posts_dir: Path, smtp_server: SMTPServer
) -> None:
    config = configured(settings, smtp_server, backend)
    now = datetime.now(UTC)  # a post is news when first seen, and that is now
    write_post(posts_dir, "damp", "Damp homes", now - timedelta(hours=3))
    write_post(posts_dir, "buses", "Bus routes", now - timedelta(hours=2), tags="[Transport]")
    store = SubscriberStore(db.sessions, default_timezone=config.timezone)
    store.add("ann@example.org", name="Ann", frequency="each", confirmed=True)
    store.add("bo@example.org", frequency="weekly", confirmed=True)
    store.add("cy@example.org", frequency="each", topics=["Housing"], confirmed=True)
    store.add("di@example.org", frequency="each")  # pending: nothing

    poll(db, config)
    first = mails(config, smtp_server)
    assert sorted((to(m), m["Subject"]) for m in first) == [
        ("ann@example.org", f"Newsletter: Bus routes ({_day(now - timedelta(hours=2))})"),
        ("ann@example.org", f"Newsletter: Damp homes ({_day(now - timedelta(hours=3))})"),
        ("cy@example.org", f"Newsletter: Damp homes ({_day(now - timedelta(hours=3))})"),
    ]
    for message in first:
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "/unsubscribe/" in message["List-Unsubscribe"]
        html, text = message_parts(OutgoingMessage("", (), "", message.as_bytes()))
        assert "/archive/each/post-" in text and "Unsubscribe: " in text
        assert "<h2" in html and html.count("<h2") == 1

    poll(db, config)  # nothing new: nothing sent again
    assert len(mails(config, smtp_server)) == 3
    write_post(posts_dir, "later", "Later news", now - timedelta(minutes=5))
    poll(db, config)
    later = [m for m in mails(config, smtp_server) if "Later news" in m["Subject"]]
    assert sorted(to(m) for m in later) == ["ann@example.org", "cy@example.org"]
    assert len(mails(config, smtp_server)) == 5
    assert pending_posts(db, config, datetime.now(UTC)) == []

    with running(create_app(config, db)) as base:
        archive = requests.get(f"{base}/archive", timeout=10).text
        assert archive.count("/archive/each/post-") == 3


def _day(moment: datetime) -> str:
    local = moment.astimezone(load_settings().zone)
    return f"{local.day} {local:%B} {local.year}"


def test_switching_from_a_digest_repeats_no_post(
    smtp_settings: Settings, db: Database, smtp_server: SMTPServer
) -> None:
    now = datetime.now(UTC)
    old = add_post(db, "Old news", now - timedelta(hours=5))
    store = SubscriberStore(db.sessions, default_timezone=smtp_settings.timezone)
    ann, _ = store.add("ann@example.org", frequency="weekly", confirmed=True)
    weekly = start_run(db, smtp_settings, "weekly", now - timedelta(hours=4)).run
    assert send_run(db, smtp_settings, weekly.id).sent == 1
    assert store.update_preferences(ann.id, ann.token_nonce, frequency="each") is not None
    new = add_post(db, "New news", now - timedelta(hours=1))
    started = start_post_runs(db, smtp_settings, now)
    assert [run.period for run in (s.run for s in started)] == [f"post-{old}", f"post-{new}"]
    for item in started:
        send_run(db, smtp_settings, item.run.id)
    subjects = [envelope.raw for envelope in smtp_server.received]
    assert len(subjects) == 2 and b"New news" in subjects[1] and b"Old news" in subjects[0]
    assert start_post_runs(db, smtp_settings, now) == []  # one run per post, ever


def test_preferences_cli_and_imports_take_each(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    environment = {"DATABASE_URL": settings.effective_database_url, "SECRET_KEY": SECRET}
    added = run("subscribers", "add", "ann@example.org", "--frequency", "each", cwd=tmp_path,
                **environment)  # fmt: skip
    assert added.returncode == 0, added.stderr
    (tmp_path / "people.csv").write_text("email,frequency\nbo@example.org,each\n", "utf-8")
    imported = run("subscribers", "import", "people.csv", "--confirmed", cwd=tmp_path,
                   **environment)  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    listed = json.loads(run("subscribers", "list", "--json", cwd=tmp_path, **environment).stdout)
    assert {item["email"]: item["frequency"] for item in listed} == {
        "ann@example.org": "each",
        "bo@example.org": "each",
    }

    config = load_settings(database_url=settings.effective_database_url, secret_key=SECRET)
    store = SubscriberStore(db.sessions, default_timezone=config.timezone)
    store.add("cy@example.org", confirmed=True)
    app = create_app(config, db)
    with running(app) as base:
        cy = store.find("cy@example.org")
        assert cy is not None
        url = f"{base}/preferences/{web_state(app).signer.manage_token(cy)}"
        page = requests.get(url, timeout=10).text
        labels = {attrs["value"] for attrs in Tags(page).all("option")}
        assert "each" in labels and "An email for each new post" in page
        fields = {"name": "", "frequency": "each", "timezone": "Europe/London"}
        saved = requests.post(url, data=fields, timeout=10)
        assert saved.status_code == 200, saved.text
    changed = store.find("cy@example.org")
    assert changed is not None and changed.frequency == "each"


def test_kill_nine_mid_run_then_resume(
    tmp_path: Path, database_url: str, smtp_server: SMTPServer
) -> None:
    db = open_database(database_url)
    add_post(db, "Resilience", datetime.now(UTC) - timedelta(hours=1))
    store = SubscriberStore(db.sessions, default_timezone="Europe/London")
    store.add_many(
        [
            Signup(f"reader{number}@example.org", None, "each", None, None, True)
            for number in range(SUBSCRIBERS)
        ],
        method="import",
    )
    db.close()
    settings = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET,
        "EMAIL_FROM": "News <news@blog.example.org>",
        "SENDER_TIMEOUT_SECONDS": "2",
        "SMTP_CONNECTIONS": str(CONNECTIONS),
        **{key.upper(): str(value) for key, value in smtp_server.settings.items()},
    }
    sender = subprocess.Popen(
        [NEWSLETTER, "digest", "send", "--frequency", "each", "--yes"],
        cwd=tmp_path,
        env=clean_environment(**settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while len(smtp_server.received) < KILL_AFTER and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(sender.pid, signal.SIGKILL)
    sender.wait()
    before = len(smtp_server.received)
    assert KILL_AFTER <= before < SUBSCRIBERS, "the kill should land in the middle of the run"

    resumed = run("digest", "send", "--frequency", "each", "--yes", cwd=tmp_path, **settings)
    assert resumed.returncode == 0, resumed.stderr
    assert "took over" in resumed.stdout

    tally = received_by(smtp_server)
    duplicates = sum(count - 1 for count in tally.values())
    print(f"\nkilled after {before} messages; {duplicates} duplicates in all")
    assert len(tally) == SUBSCRIBERS
    assert duplicates <= 2 * CONNECTIONS
    deliveries = json.loads(run("deliveries", "--json", cwd=tmp_path, **settings).stdout)
    assert [(item["frequency"], item["status"]) for item in deliveries] == [("each", "done")]
    assert deliveries[0]["counts"]["sent"] == SUBSCRIBERS


def test_cli_previews_lists_and_sends_each_new_post(tmp_path: Path) -> None:
    posts = tmp_path / "posts"
    posts.mkdir()
    now = datetime.now(UTC)
    write_post(posts, "damp", "Damp homes", now - timedelta(hours=3))
    write_post(posts, "buses", "Bus routes", now - timedelta(hours=2))
    environment = {
        "DATA_DIR": str(tmp_path / "var"),
        "SECRET_KEY": SECRET,
        "SOURCES": json.dumps([{"name": "posts", "kind": "directory", "path": str(posts)}]),
    }
    assert run("ingest", cwd=tmp_path, **environment).returncode == 0
    run("subscribers", "add", "ann@example.org", "--frequency", "each", "--confirmed",
        cwd=tmp_path, **environment)  # fmt: skip

    preview = run("digest", "preview", "--frequency", "each", cwd=tmp_path, **environment)
    assert preview.returncode == 0, preview.stderr
    text = Path(tmp_path, preview.stdout.split()[1]).read_text(encoding="utf-8")
    assert "Bus routes" in text and "Damp homes" not in text  # the newest post, alone
    assert "/archive/each/post-" in text

    dry = run("digest", "send", "--frequency", "each", "--dry-run", cwd=tmp_path, **environment)
    assert dry.stdout.splitlines() == [
        "ann@example.org: 1 posts (Damp homes)",  # the older post's run first
        "ann@example.org: 1 posts (Bus routes)",
        "2 emails would go out, one per new post and reader",
    ]
    asked = run("digest", "send", "--frequency", "each", cwd=tmp_path, **environment)
    assert asked.returncode == 2 and "Send 2 emails for 2 new posts?" in asked.stderr
    sent = run("digest", "send", "--frequency", "each", "--yes", cwd=tmp_path, **environment)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.count("1 sent, 0 failed") == 2
    again = run("digest", "send", "--frequency", "each", "--yes", cwd=tmp_path, **environment)
    assert again.returncode == 0 and "no new post to send on its own" in again.stdout
    outbox = list((tmp_path / "var" / "outbox").glob("*.eml"))
    assert len(outbox) == 2

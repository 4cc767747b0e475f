"""The sending processes on a bad day, as an operator sees them from the shell: `kill -9`
then `digest send` again at once, and two `digest send` started together, on SQLite and
PostgreSQL, against a real SMTP server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cli_runner import NEWSLETTER, clean_environment, run
from helpers import add_post, received_by
from smtp_server import SMTPServer
from sqlalchemy import func, select

from pipeline.storage import open_database
from pipeline.storage.models import OutboxItem
from subscribers import Signup, SubscriberStore

pytest_plugins = ["smtp_server"]

SUBSCRIBERS = 2_000
KILL_AFTER = 400
CONNECTIONS = 4


def prepare(database_url: str, subscribers: int = SUBSCRIBERS) -> None:
    db = open_database(database_url)
    add_post(db, "Resilience", datetime.now(UTC) - timedelta(hours=1))
    store = SubscriberStore(db.sessions, default_timezone="Europe/London")
    signups = [
        Signup(f"reader{number}@example.org", None, None, None, None, True)
        for number in range(subscribers)
    ]
    store.add_many(signups, method="import")
    db.close()


def environment(database_url: str, smtp_server: SMTPServer) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "crash-test-secret-0123456789",
        "EMAIL_FROM": "News <news@blog.example.org>",
        "SENDER_TIMEOUT_SECONDS": "2",
        "SMTP_CONNECTIONS": str(CONNECTIONS),
        **{key.upper(): str(value) for key, value in smtp_server.settings.items()},
    }


def start_sending(tmp_path: Path, settings: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [NEWSLETTER, "digest", "send", "--yes"],
        cwd=tmp_path,
        env=clean_environment(**settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kill_nine_then_resume_at_once(
    tmp_path: Path, database_url: str, smtp_server: SMTPServer
) -> None:
    prepare(database_url)
    settings = environment(database_url, smtp_server)
    sender = start_sending(tmp_path, settings)
    deadline = time.monotonic() + 120
    while len(smtp_server.received) < KILL_AFTER and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(sender.pid, signal.SIGKILL)
    sender.wait()
    before = len(smtp_server.received)
    assert KILL_AFTER <= before < SUBSCRIBERS, "the kill should land in the middle of the run"
    db = open_database(database_url)
    with db.session() as session:
        in_flight = session.scalar(select(func.count()).where(OutboxItem.status == "sending"))
    db.close()

    resumed = run("digest", "send", "--yes", cwd=tmp_path, **settings)  # no wait for a lease
    assert resumed.returncode == 0, resumed.stderr
    assert f"took over {in_flight} messages from a stopped sender" in resumed.stdout

    tally = received_by(smtp_server)
    duplicates = sum(count - 1 for count in tally.values())
    print(
        f"\nkilled after {before} messages with {in_flight} claimed; "
        f"{len(smtp_server.received)} received in all, {duplicates} duplicates"
    )
    assert len(tally) == SUBSCRIBERS
    assert duplicates <= 2 * CONNECTIONS
    deliveries = json.loads(run("deliveries", "--json", cwd=tmp_path, **settings).stdout)
    assert deliveries[0]["status"] == "done"
    assert deliveries[0]["counts"]["sent"] == SUBSCRIBERS


def test_two_senders_started_together_both_finish_and_everyone_gets_one(
    tmp_path: Path, database_url: str, smtp_server: SMTPServer
) -> None:
    prepare(database_url)
    settings = environment(database_url, smtp_server)
    senders = [start_sending(tmp_path, settings) for _ in range(2)]
    outputs = [sender.communicate(timeout=300) for sender in senders]
    for sender, (stdout, stderr) in zip(senders, outputs, strict=True):
        assert sender.returncode == 0, stderr
        assert "(done)" in stdout
        assert "locked" not in stderr
    tally = received_by(smtp_server)
    assert len(tally) == SUBSCRIBERS and set(tally.values()) == {1}

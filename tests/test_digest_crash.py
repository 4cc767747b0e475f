"""kill -9 in the middle of a run, then `digest send` again: everyone gets the digest, and
only messages that were in flight at the kill can arrive twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cli_runner import NEWSLETTER, clean_environment, run
from smtp_server import SMTPServer
from sqlalchemy import func, select
from test_digest_runs import add_post

from pipeline.storage import open_database
from pipeline.storage.models import OutboxItem
from subscribers import Signup, SubscriberStore

pytest_plugins = ["smtp_server"]

SUBSCRIBERS = 2_000
KILL_AFTER = 400


def prepare(database_url: str) -> None:
    db = open_database(database_url)
    now = datetime.now(UTC)
    add_post(db, "Resilience", now - timedelta(hours=1))
    store = SubscriberStore(db.sessions, default_timezone="Europe/London")
    signups = [
        Signup(f"reader{number}@example.org", None, None, None, None, True)
        for number in range(SUBSCRIBERS)
    ]
    store.add_many(signups, method="import")
    db.close()


def test_kill_nine_then_resume(tmp_path: Path, smtp_server: SMTPServer) -> None:
    database_url = f"sqlite:///{tmp_path / 'crash.db'}"
    prepare(database_url)
    settings = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "crash-test-secret-0123456789",
        "EMAIL_FROM": "News <news@blog.example.org>",
        "SENDER_TIMEOUT_SECONDS": "2",
        **{key.upper(): str(value) for key, value in smtp_server.settings.items()},
    }
    sender = subprocess.Popen(
        [NEWSLETTER, "digest", "send", "--yes"],
        cwd=tmp_path,
        env=clean_environment(**settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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

    time.sleep(1.5)  # the lease of the killed process's claims runs out
    resumed = run("digest", "send", "--yes", cwd=tmp_path, **settings)
    assert resumed.returncode == 0, resumed.stderr

    tally: dict[str, int] = {}
    for envelope in smtp_server.received:
        for address in envelope.rcpt_tos:
            tally[address] = tally.get(address, 0) + 1
    duplicates = sum(count - 1 for count in tally.values())
    print(
        f"\nkilled after {before} messages with {in_flight} in flight; "
        f"{len(smtp_server.received)} received in all, {duplicates} duplicates"
    )
    assert len(tally) == SUBSCRIBERS
    assert duplicates <= in_flight
    deliveries = json.loads(run("deliveries", "--json", cwd=tmp_path, **settings).stdout)
    assert deliveries[0]["status"] == "done"
    assert deliveries[0]["counts"]["sent"] == SUBSCRIBERS

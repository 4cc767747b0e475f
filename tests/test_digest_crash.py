"""The sending processes on a bad day, as an operator sees them from the shell: `kill -9`
then `digest send` again at once, and two `digest send` started together, on SQLite and
PostgreSQL, against a real SMTP server."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runner import run, start_sending
from helpers import prepare_readers, received_by
from smtp_server import SMTPServer
from sqlalchemy import func, select

from pipeline.storage import open_database
from pipeline.storage.models import OutboxItem

pytest_plugins = ["smtp_server"]

SUBSCRIBERS = 2_000
KILL_AFTER = 400
CONNECTIONS = 4


def environment(database_url: str, smtp_server: SMTPServer) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "crash-test-secret-0123456789",
        "EMAIL_FROM": "News <news@blog.example.org>",
        "SENDER_TIMEOUT_SECONDS": "2",
        "SMTP_CONNECTIONS": str(CONNECTIONS),
        **{key.upper(): str(value) for key, value in smtp_server.settings.items()},
    }


@pytest.fixture(params=[True, False], ids=["pipelining", "lockstep"])
def relay(request: pytest.FixtureRequest) -> Iterator[SMTPServer]:
    """With PIPELINING a connection's next envelope goes with each message's end."""
    with SMTPServer(pipelining=request.param) as server:
        yield server


def test_kill_nine_then_resume_at_once(
    tmp_path: Path, database_url: str, relay: SMTPServer
) -> None:
    prepare_readers(database_url, SUBSCRIBERS)
    settings = environment(database_url, relay)
    sender = start_sending(tmp_path, settings)
    deadline = time.monotonic() + 120
    while len(relay.received) < KILL_AFTER and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(sender.pid, signal.SIGKILL)
    sender.wait()
    before = len(relay.received)
    assert KILL_AFTER <= before < SUBSCRIBERS, "the kill should land in the middle of the run"
    db = open_database(database_url)
    with db.session() as session:
        in_flight = session.scalar(select(func.count()).where(OutboxItem.status == "sending"))
    db.close()

    resumed = run("digest", "send", "--yes", cwd=tmp_path, **settings)  # no wait for a lease
    assert resumed.returncode == 0, resumed.stderr
    assert f"took over {in_flight} messages from a stopped sender" in resumed.stdout

    tally = received_by(relay)
    duplicates = sum(count - 1 for count in tally.values())
    print(
        f"\nkilled after {before} messages with {in_flight} claimed; "
        f"{len(relay.received)} received in all, {duplicates} duplicates"
    )
    assert len(tally) == SUBSCRIBERS
    assert duplicates <= 2 * CONNECTIONS
    deliveries = json.loads(run("deliveries", "--json", cwd=tmp_path, **settings).stdout)
    assert deliveries[0]["status"] == "done"
    assert deliveries[0]["counts"]["sent"] == SUBSCRIBERS


def test_two_senders_started_together_both_finish_and_everyone_gets_one(
    tmp_path: Path, database_url: str, smtp_server: SMTPServer
) -> None:
    prepare_readers(database_url, SUBSCRIBERS)
    settings = environment(database_url, smtp_server)
    senders = [start_sending(tmp_path, settings) for _ in range(2)]
    outputs = [sender.communicate(timeout=300) for sender in senders]
    for sender, (stdout, stderr) in zip(senders, outputs, strict=True):
        assert sender.returncode == 0, stderr
        assert "(done)" in stdout
        assert "locked" not in stderr
    tally = received_by(smtp_server)
    assert len(tally) == SUBSCRIBERS and set(tally.values()) == {1}

"""Scale-out with real parts: `newsletter worker` processes on a real broker (Redis, and
RabbitMQ once), PostgreSQL, and a real SMTP server. Two workers share a run and everyone
gets one copy; a worker killed with `kill -9` mid-run loses nobody, and the copies sent
twice are at most what it had in flight."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from cli_runner import NEWSLETTER, clean_environment, run, start_sending
from helpers import (
    DOMAIN,
    NOW,
    TOKEN,
    Keys,
    add_post,
    add_subscriber,
    api_app,
    prepare_readers,
    received_by,
    running,
    watch_key_processes,
)
from smtp_server import SMTPServer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.digest.runs import start_run
from pipeline.mail import dkim as dkim_module
from pipeline.mail.dkim import DkimSigner
from pipeline.mail.template import Recipient, build_template
from pipeline.outbox import OutboxStatus, get_run, idle_runs, rows, senders
from pipeline.scheduling.jobs import drain, send_digest
from pipeline.settings import Settings, SettingsProblem, load_settings
from pipeline.storage import Database, open_database
from pipeline.storage.models import OutboxItem
from pipeline.workers import tasks
from pipeline.workers.celery_app import celery_app
from subscribers.timestamps import utcnow

pytest_plugins = ["smtp_server"]

SUBSCRIBERS = 2_000
KILL_AFTER = 300
CONNECTIONS = 2
BROKERS = {
    "redis": os.environ.get("NEWSLETTER_TEST_REDIS_URL"),
    "rabbitmq": os.environ.get("NEWSLETTER_TEST_RABBITMQ_URL"),
}
postgres_only = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def broker(name: str) -> str:
    """The broker's URL, or skip when it is not given or does not answer."""
    url = BROKERS[name]
    if not url:
        pytest.skip(f"NEWSLETTER_TEST_{name.upper()}_URL is not set")
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port or 0), timeout=2).close()
    except OSError as exc:
        pytest.skip(f"{name} at {parts.hostname}:{parts.port} does not answer: {exc}")
    return url


@pytest.fixture
def environment(database_url: str, smtp_server: SMTPServer) -> Iterator[dict[str, str]]:
    """Settings for every process of one test, on its own queue of the broker (filled in
    by the test), which is deleted afterwards."""
    settings = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "workers-test-secret-0123456789",
        "EMAIL_FROM": "News <news@blog.example.org>",
        "SENDER_TIMEOUT_SECONDS": "2",
        "SMTP_CONNECTIONS": str(CONNECTIONS),
        "WORKER_QUEUE": f"test-{uuid.uuid4().hex[:12]}",
        **{key.upper(): str(value) for key, value in smtp_server.settings.items()},
    }
    yield settings
    if "BROKER_URL" in settings:
        config = load_settings(broker_url=settings["BROKER_URL"])
        with celery_app(config).connection_for_write() as connection:
            connection.default_channel.queue_delete(settings["WORKER_QUEUE"])


class Worker:
    """A `newsletter worker` process in its own process group (its pool's children too)."""

    def __init__(self, tmp_path: Path, settings: dict[str, str], name: str) -> None:
        self.log = tmp_path / f"{name}.log"
        self.process = subprocess.Popen(
            [NEWSLETTER, "worker", "--concurrency", "2"],
            cwd=tmp_path,
            env=clean_environment(**settings),
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while "ready." not in self.output() and time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            time.sleep(0.1)
        assert "ready." in self.output(), self.output()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """`kill -9` of the worker and its pool at once, as a machine that goes away."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


@postgres_only
def test_two_workers_send_one_run_and_everyone_gets_one_copy(
    tmp_path: Path,
    database_url: str,
    smtp_server: SMTPServer,
    environment: dict[str, str],
    workers: list[Worker],
) -> None:
    environment["BROKER_URL"] = broker("redis")
    prepare_readers(database_url, SUBSCRIBERS)
    workers.extend(Worker(tmp_path, environment, f"worker{n}") for n in range(2))
    for worker in workers:
        worker.wait_ready()
    sent = run("digest", "send", "--yes", cwd=tmp_path, **environment)
    assert sent.returncode == 0, sent.stderr
    assert "(done)" in sent.stdout
    tally = received_by(smtp_server)
    assert len(tally) == SUBSCRIBERS and set(tally.values()) == {1}
    for worker in workers:  # both took chunks
        assert "sent" in worker.output() and "succeeded" in worker.output(), worker.output()
    deliveries = json.loads(run("deliveries", "--json", cwd=tmp_path, **environment).stdout)
    assert deliveries[0]["status"] == "done"
    assert deliveries[0]["counts"]["sent"] == SUBSCRIBERS


@postgres_only
@pytest.mark.parametrize("broker_name", ["redis", "rabbitmq"])
def test_a_worker_killed_mid_run_loses_nobody_and_another_finishes(
    tmp_path: Path,
    database_url: str,
    smtp_server: SMTPServer,
    environment: dict[str, str],
    workers: list[Worker],
    broker_name: str,
) -> None:
    environment["BROKER_URL"] = broker(broker_name)
    prepare_readers(database_url, SUBSCRIBERS)
    first = Worker(tmp_path, environment, "first")
    workers.append(first)
    first.wait_ready()
    sending = start_sending(tmp_path, environment)  # follows the run to its end
    deadline = time.monotonic() + 120
    while len(smtp_server.received) < KILL_AFTER and time.monotonic() < deadline:
        time.sleep(0.01)
    first.kill()
    before = len(smtp_server.received)
    assert KILL_AFTER <= before < SUBSCRIBERS, "the kill should land in the middle of the run"
    db = open_database(database_url)
    with db.session() as session:
        in_flight = session.scalar(select(func.count()).where(OutboxItem.status == "sending"))
    db.close()

    workers.append(Worker(tmp_path, environment, "second"))
    stdout, stderr = sending.communicate(timeout=180)
    assert sending.returncode == 0, stderr
    assert "(done)" in stdout

    tally = received_by(smtp_server)
    duplicates = sum(count - 1 for count in tally.values())
    print(
        f"\n{broker_name}: killed after {before} messages with {in_flight} in flight; "
        f"{len(smtp_server.received)} received in all, {duplicates} duplicates"
    )
    assert len(tally) == SUBSCRIBERS
    assert duplicates <= in_flight
    assert "took over" in workers[1].output()


def test_a_worker_needs_a_broker_and_a_bad_one_is_one_line(tmp_path: Path) -> None:
    missing = run("worker", cwd=tmp_path)
    assert missing.returncode == 2
    assert "NEWSLETTER_BROKER_URL is not set" in missing.stderr
    wrong = run("worker", cwd=tmp_path, BROKER_URL="http://127.0.0.1:6379/0")
    assert wrong.returncode == 2
    assert "BROKER_URL" in wrong.stderr and "redis://" in wrong.stderr
    assert "Traceback" not in missing.stderr + wrong.stderr


def test_a_broker_that_is_down_leaves_the_run_queued_with_one_line(
    tmp_path: Path, smtp_server: SMTPServer
) -> None:
    database_url = f"sqlite:///{tmp_path / 'newsletter.db'}"
    prepare_readers(database_url, 3)
    settings = {
        "DATABASE_URL": database_url,
        "BROKER_URL": "redis://:secret-word@127.0.0.1:1/0",  # nothing listens on port 1
        "SECRET_KEY": "workers-test-secret-0123456789",
        **{key.upper(): str(value) for key, value in smtp_server.settings.items()},
    }
    sent = run("digest", "send", "--yes", cwd=tmp_path, **settings)
    assert sent.returncode == 2
    assert "cannot reach the broker at redis://:********@127.0.0.1:1/0" in sent.stderr
    assert "secret-word" not in sent.stderr and "Traceback" not in sent.stderr
    deliveries = json.loads(run("deliveries", "--json", cwd=tmp_path, **settings).stdout)
    assert deliveries[0]["counts"]["queued"] == 3
    assert not smtp_server.received


@postgres_only
def test_a_run_handed_over_twice_is_still_sent_once_to_everyone(
    tmp_path: Path,
    database_url: str,
    smtp_server: SMTPServer,
    environment: dict[str, str],
    workers: list[Worker],
) -> None:
    """`--no-wait` hands the run over with no worker running; the scheduler's sweep finds
    it idle and hands it over again; one worker then drains both sets of tasks."""
    environment["BROKER_URL"] = broker("redis")
    prepare_readers(database_url, 300)
    handed = run("digest", "send", "--yes", "--no-wait", cwd=tmp_path, **environment)
    assert handed.returncode == 0, handed.stderr
    assert "handed to the workers" in handed.stdout
    config = load_settings(**{key.lower(): value for key, value in environment.items()})
    db = open_database(database_url)
    try:
        [run_id] = idle_runs(db, utcnow(), config.sender_timeout_seconds)
        drain(db, config)  # the sweep, as the scheduler runs it every minute
        workers.append(Worker(tmp_path, environment, "late"))
        deadline = time.monotonic() + 120
        while get_run(db, run_id).status != "done" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert get_run(db, run_id).status == "done"
    finally:
        db.close()
    tally = received_by(smtp_server)
    assert len(tally) == 300 and set(tally.values()) == {1}


def test_idle_runs_are_those_with_work_due_and_no_live_sender(db: Database) -> None:
    add_post(db, "Post", NOW - timedelta(hours=3))
    for number in range(4):
        add_subscriber(db, f"reader{number}@example.org")
    settings = load_settings(secret_key="idle-test-secret-0123456789", database_url="sqlite://")
    run_id = start_run(db, settings, "weekly", NOW).run.id
    assert idle_runs(db, NOW, 10) == [run_id]  # queued, no one sending
    with senders.SenderLife(db, lambda: NOW, 10) as life:
        db.patiently(lambda session: rows.claim(session, run_id, life.id, NOW, 2))
        assert idle_runs(db, NOW, 10) == []  # a live sender works on it
        assert idle_runs(db, NOW + timedelta(seconds=11), 10) == [run_id]  # its heart stopped
        assert idle_runs(db, NOW + timedelta(seconds=11), 10, [run_id + 1]) == []
    later = NOW + timedelta(hours=1)

    def settle(session: Session, sender: str) -> None:
        """Take back the stopped sender's rows, claim all: two wait for a retry, the rest
        are sent."""
        senders.reap(session, run_id, NOW, 10)
        claimed = rows.claim(session, run_id, sender, NOW, 10)
        marks = [rows.Mark(item.id, OutboxStatus.SENT, 1) for item in claimed[2:]]
        marks += [
            rows.Mark(item.id, OutboxStatus.QUEUED, 1, next_attempt_at=later)
            for item in claimed[:2]
        ]
        rows.mark(session.connection(), sender, marks)

    with senders.SenderLife(db, lambda: NOW, 10) as life:
        db.patiently(lambda session: settle(session, life.id))
    assert idle_runs(db, NOW, 10) == []  # only retries, due later
    assert idle_runs(db, later, 10) == [run_id]


def queued_tasks(settings: Settings) -> int:
    """How many tasks wait in the settings' queue of their broker."""
    with celery_app(settings).connection_for_write() as connection:
        declared = connection.default_channel.queue_declare(settings.worker_queue, passive=True)
    return declared.message_count


@postgres_only
def test_the_api_and_the_scheduler_hand_runs_over_instead_of_sending(
    settings: Settings, db: Database, smtp_server: SMTPServer, environment: dict[str, str]
) -> None:
    environment["BROKER_URL"] = broker("redis")
    handing = settings.model_copy(
        update={
            "broker_url": environment["BROKER_URL"],
            "worker_queue": environment["WORKER_QUEUE"],
            **smtp_server.settings,
        }
    )
    add_post(db, "Post", NOW - timedelta(hours=3))
    for number in range(3):
        add_subscriber(db, f"reader{number}@example.org")
    run = send_digest(db, handing, "weekly", clock=lambda: NOW)
    assert run is not None and queued_tasks(handing) == 1
    add_post(db, "Fresh", utcnow() - timedelta(hours=1))  # for this week's run, sent now
    with running(api_app(handing, db)) as base:
        answer = requests.post(
            f"{base}/api/digests/weekly/send",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
    assert answer.status_code == 201 and answer.json()["status"] == "queued", answer.text
    assert queued_tasks(handing) == 2
    assert not smtp_server.received  # no one sent in-process
    assert get_run(db, run.id).status == "queued"


def test_a_worker_keeps_its_dkim_signer_from_chunk_to_chunk_until_something_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunk after chunk a worker process signs with the same signer, whose key processes
    start once; a key process that stopped, or a key file changed, makes a new one, and a
    key file gone stops the chunk with one line naming the setting."""
    keys, started = Keys(tmp_path), watch_key_processes(monkeypatch)
    monkeypatch.setattr(dkim_module, "KEY_PROCESS_MIN", 1)
    monkeypatch.setattr(tasks, "_signer", None)
    settings = keys.settings()
    template = build_template(
        sender=f"Blog <news@{DOMAIN}>", subject="Posts", text="Hi %%name%%\n", html_body="<p>Hi</p>"
    )
    copy = template.render(Recipient("1", "ada@example.org", "Ada"))
    made: list[DkimSigner] = []
    try:
        made.append(kept(settings))
        assert kept(settings) is made[0]
        made[0].many([copy])
        for process in started:
            assert process.pid is not None
            os.kill(process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not made[0].degraded and time.monotonic() < deadline:
            time.sleep(0.01)
        made.append(kept(settings))
        assert made[1] is not made[0]
        assert kept(settings) is made[1]
        os.utime(keys.rsa_file, ns=(0, 0))  # the key file replaced
        made.append(kept(settings))
        assert made[2] is not made[1]
        signed = made[2].many([copy]).messages
        assert keys.verify(signed[0].raw)
        keys.rsa_file.unlink()
        with pytest.raises(SettingsProblem, match="NEWSLETTER_DKIM_KEY_FILE"):
            tasks._dkim(settings)
    finally:
        for signer in made:
            signer.close()
    assert tasks._dkim(load_settings()) is None  # no DKIM set up


def kept(settings: Settings) -> DkimSigner:
    signer = tasks._dkim(settings)
    assert signer is not None
    return signer

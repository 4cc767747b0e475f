"""`kill -9` of a `digest send` through an email API, then `digest send` again at once, on
SQLite and PostgreSQL, against a real local HTTP server standing in for the provider.

A request whose answer came back but was not yet recorded is sent again after the crash:
at most one request's batch. Resend is told the batch's Idempotency-Key, the same on the
retry (it is derived from the outbox rows), and does not mail a batch twice; the stand-in
keeps its keys as Resend does.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from cli_runner import run, start_sending
from helpers import prepare_readers
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pipeline.delivery.providers.postmark import Postmark
from pipeline.delivery.providers.resend import Resend

SUBSCRIBERS = 2_000
KILL_AFTER = 700


class Provider:
    """A stand-in for Postmark's or Resend's batch endpoint: who got how many copies."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.received: Counter[str] = Counter()
        self.answers: dict[str, str] = {}  # Resend: Idempotency-Key → first answer
        self.replayed = 0  # requests answered from a key seen before, mailing nobody
        self.lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key")
        with self.lock:
            if key is not None and key in self.answers:
                self.replayed += 1
                return Response(self.answers[key], 200, content_type="application/json")
            batch = json.loads(request.get_data())
            for message in batch:
                self.received[message["To"] if self.name == "postmark" else message["to"][0]] += 1
            if self.name == "postmark":
                body = [{"ErrorCode": 0, "MessageID": str(uuid.uuid4())} for _ in batch]
                answer = json.dumps(body)
            else:
                answer = json.dumps({"data": [{"id": str(uuid.uuid4())} for _ in batch]})
            if key is not None:
                self.answers[key] = answer
            return Response(answer, 200, content_type="application/json")

    @property
    def total(self) -> int:
        with self.lock:
            return sum(self.received.values())


@pytest.mark.parametrize(("backend", "bound"), [("postmark", Postmark.batch_size), ("resend", 0)])
def test_kill_nine_then_resume_sends_at_most_one_batch_twice(
    tmp_path: Path, database_url: str, httpserver: HTTPServer, backend: str, bound: int
) -> None:
    assert Resend.batch_size < KILL_AFTER < SUBSCRIBERS - Postmark.batch_size
    provider = Provider(backend)
    path = "/email/batch" if backend == "postmark" else "/emails/batch"
    httpserver.expect_request(path, method="POST").respond_with_handler(provider.handle)
    prepare_readers(database_url, SUBSCRIBERS)
    settings = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "crash-test-secret-0123456789",
        "EMAIL_FROM": "News <news@blog.example.org>",
        "SENDER_TIMEOUT_SECONDS": "2",
        "EMAIL_BACKEND": backend,
        "API_KEY": "test-key",
        "API_BASE_URL": httpserver.url_for("/"),
    }
    sender = start_sending(tmp_path, settings)
    deadline = time.monotonic() + 120
    while provider.total < KILL_AFTER and time.monotonic() < deadline:
        time.sleep(0.001)
    os.kill(sender.pid, signal.SIGKILL)
    sender.wait()
    before = provider.total
    assert KILL_AFTER <= before < SUBSCRIBERS, "the kill should land in the middle of the run"

    resumed = run("digest", "send", "--yes", cwd=tmp_path, **settings)
    assert resumed.returncode == 0, resumed.stderr
    duplicates = sum(count - 1 for count in provider.received.values())
    print(
        f"\n{backend}: killed after {before} recipients; {provider.total} received in all,"
        f" {duplicates} duplicates (bound {bound}), {provider.replayed} requests replayed"
    )
    assert len(provider.received) == SUBSCRIBERS
    assert duplicates <= bound
    deliveries = json.loads(run("deliveries", "--json", cwd=tmp_path, **settings).stdout)
    assert (deliveries[0]["status"], deliveries[0]["counts"]["sent"]) == ("done", SUBSCRIBERS)

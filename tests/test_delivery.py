"""Delivery backends against real parts: files on disk and an aiosmtpd server."""

from __future__ import annotations

import email
import io
import re
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import message
from smtp_server import DROP, SMTPServer

from pipeline.delivery import (
    ConsoleBackend,
    DeliveryConfigError,
    FileBackend,
    SendResult,
    SMTPBackend,
    SMTPPool,
    open_backend,
    smtp_connection,
)
from pipeline.settings import load_settings

pytest_plugins = ["smtp_server"]


def smtp_backend(server: SMTPServer, **overrides: object) -> SMTPBackend:
    """One connection of the pool (tests/test_delivery_pool.py covers the pool)."""
    return smtp_connection(load_settings(**{**server.settings, **overrides}))


def outcome(results: list[SendResult]) -> list[tuple[str, bool, bool, str | None]]:
    return [(result.recipient, result.ok, result.permanent, result.error) for result in results]


# file


def test_file_backend_writes_parseable_eml_files(tmp_path: Path) -> None:
    backend = open_backend(load_settings(data_dir=tmp_path / "var"))
    messages = [message(subject="One"), message(subject="Two")]
    results = backend.send(messages)

    outbox = tmp_path / "var" / "outbox"
    files = sorted(outbox.iterdir())
    assert [file.name for file in files] == sorted(result.provider_id or "" for result in results)
    assert all(result.ok for result in results)
    for file in files:
        assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-[A-Za-z0-9@._-]+\.eml", file.name)
    written = {file.read_bytes() for file in files}
    assert written == {sent.raw for sent in messages}  # whole files, no temporary ones left
    subjects = {email.message_from_bytes(raw)["Subject"] for raw in written}
    assert subjects == {"One", "Two"}


def test_file_backend_reports_unwritable_outbox(tmp_path: Path) -> None:
    (tmp_path / "outbox").write_text("a file where the folder should be")
    sent = message()
    results = FileBackend(tmp_path / "outbox").send([sent])
    assert [(r.message_id, r.ok, r.permanent) for r in results] == [(sent.message_id, False, False)]
    assert "outbox" in (results[0].error or "")


# console


def test_console_backend_prints_messages() -> None:
    stream = io.StringIO()
    results = ConsoleBackend(stream).send([message(subject="Printed")])
    assert outcome(results) == [("ada@example.org", True, False, None)]
    printed = stream.getvalue()
    assert "RCPT TO:ada@example.org" in printed
    assert "Subject: Printed\n" in printed and "\r" not in printed


# choosing a backend


def test_open_backend_by_setting(tmp_path: Path) -> None:
    assert isinstance(open_backend(load_settings(email_backend="file")), FileBackend)
    assert isinstance(open_backend(load_settings(email_backend="console")), ConsoleBackend)
    assert isinstance(open_backend(load_settings(email_backend="smtp")), SMTPPool)


def test_smtp_username_needs_password() -> None:
    with pytest.raises(DeliveryConfigError, match="NEWSLETTER_SMTP_PASSWORD"):
        open_backend(load_settings(email_backend="smtp", smtp_username="ada"))


# smtp


def test_smtp_delivers_exact_bytes_over_one_connection(smtp_server: SMTPServer) -> None:
    messages = [message("ada@example.org"), message("Grace <grace@example.org>")]
    backend = smtp_backend(smtp_server)
    results = backend.send(messages)
    backend.close()
    backend.close()  # harmless twice

    assert outcome(results) == [
        ("ada@example.org", True, False, None),
        ("grace@example.org", True, False, None),
    ]
    assert [(r.mail_from, r.rcpt_tos, r.raw) for r in smtp_server.received] == [
        ("news@blog.example.org", sent.recipients, sent.raw) for sent in messages
    ]
    assert smtp_server.connections == 1


def test_smtp_keeps_the_connection_between_batches(smtp_server: SMTPServer) -> None:
    backend = smtp_backend(smtp_server)
    backend.send([message()])
    backend.send([message()])
    backend.close()
    assert len(smtp_server.received) == 2
    assert smtp_server.connections == 1


def test_smtp_data_451_is_transient_and_the_next_message_goes(smtp_server: SMTPServer) -> None:
    smtp_server.data_replies.append("451 4.3.0 Try again later")
    results = smtp_backend(smtp_server).send([message(subject="One"), message(subject="Two")])
    assert outcome(results) == [
        ("ada@example.org", False, False, "451 4.3.0 Try again later"),
        ("ada@example.org", True, False, None),
    ]
    assert len(smtp_server.received) == 1


def test_smtp_data_550_is_permanent(smtp_server: SMTPServer) -> None:
    smtp_server.data_replies.append("550 5.7.1 Message rejected\r\n   as spam")
    results = smtp_backend(smtp_server).send([message()])
    assert outcome(results) == [("ada@example.org", False, True, "550 5.7.1 Message rejected")]


def test_smtp_refused_recipients_are_reported_one_by_one(smtp_server: SMTPServer) -> None:
    smtp_server.rcpt_replies["gone@example.org"] = "550 5.1.1 No such user"
    smtp_server.rcpt_replies["full@example.org"] = "452 4.2.2 Mailbox full"
    # One message, two envelope recipients: each gets its own result.
    both = replace(message("ada@example.org"), recipients=("ada@example.org", "gone@example.org"))
    results = smtp_backend(smtp_server).send([both, message("full@example.org")])
    assert outcome(results) == [
        ("ada@example.org", True, False, None),
        ("gone@example.org", False, True, "550 5.1.1 No such user"),
        ("full@example.org", False, False, "452 4.2.2 Mailbox full"),
    ]
    assert [r.rcpt_tos for r in smtp_server.received] == [("ada@example.org",)]


def test_smtp_dropped_connection_reconnects(smtp_server: SMTPServer) -> None:
    smtp_server.data_replies.append(DROP)
    first, second = message(subject="One"), message(subject="Two")
    results = smtp_backend(smtp_server).send([first, second])
    assert all(result.ok for result in results)
    assert [r.raw for r in smtp_server.received] == [first.raw, second.raw]
    assert smtp_server.connections == 2


def test_smtp_dropped_twice_fails_transiently_and_the_next_message_goes(
    smtp_server: SMTPServer,
) -> None:
    smtp_server.data_replies += [DROP, DROP]
    first, second = message(subject="One"), message(subject="Two")
    results = smtp_backend(smtp_server).send([first, second])
    assert [(r.message_id, r.ok, r.permanent) for r in results] == [
        (first.message_id, False, False),
        (second.message_id, True, False),
    ]
    assert "lost" in (results[0].error or "")
    assert [r.raw for r in smtp_server.received] == [second.raw]
    assert smtp_server.connections == 3


def test_smtp_421_reconnects_and_retries(smtp_server: SMTPServer) -> None:
    smtp_server.data_replies.append("421 4.3.2 Shutting down")
    sent = message()
    results = smtp_backend(smtp_server).send([sent])
    assert outcome(results) == [("ada@example.org", True, False, None)]
    assert [r.raw for r in smtp_server.received] == [sent.raw]
    assert smtp_server.connections == 2


def test_smtp_unreachable_server_fails_every_message_transiently() -> None:
    with SMTPServer() as server:
        settings = server.settings  # a port that was free a moment ago
    messages = [message(), message()]
    backend = open_backend(load_settings(**settings))
    results = backend.send(messages)
    assert [(r.ok, r.permanent) for r in results] == [(False, False), (False, False)]
    assert all(
        r.error and r.error.startswith(f"SMTP 127.0.0.1:{settings['smtp_port']}:") for r in results
    )


def test_smtp_starttls_is_required_when_asked_for(smtp_server: SMTPServer) -> None:
    results = smtp_backend(smtp_server, smtp_security="starttls").send([message()])
    assert [(r.ok, r.permanent) for r in results] == [(False, False)]
    assert "STARTTLS" in (results[0].error or "")
    assert smtp_server.received == []  # nothing went in clear text


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")
def test_smtp_authenticates_with_the_configured_credentials() -> None:
    with SMTPServer(credentials=("ada", "s3cret")) as server:
        good = smtp_backend(server).send([message()])
        wrong = smtp_backend(server, smtp_password="wrong").send([message()])
    assert [r.ok for r in good] == [True]
    assert [(r.ok, r.permanent) for r in wrong] == [(False, False)]
    assert "535" in (wrong[0].error or "")
    assert len(server.received) == 1


def test_smtp_unreachable_with_more_connections_than_messages_still_answers_each() -> None:
    with SMTPServer() as server:
        settings = server.settings  # a port that was free a moment ago
    backend = open_backend(load_settings(**settings, smtp_connections=8))
    for _ in range(20):  # idle connections leave at once; the one that tried must not be last
        results = backend.send([message()])
        assert [(r.ok, r.permanent, r.channel) for r in results] == [(False, False, True)]
    backend.close()

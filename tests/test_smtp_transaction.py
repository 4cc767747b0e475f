"""The SMTP transaction against a real aiosmtpd server, with and without PIPELINING:
the same exact bytes and the same per-recipient outcomes either way."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from smtp_server import DROP, SMTPServer

from pipeline.delivery import SendResult, SMTPBackend, smtp_connection
from pipeline.delivery.base import Finished
from pipeline.mail import OutgoingMessage, compose
from pipeline.mail.template import Later
from pipeline.settings import load_settings


@pytest.fixture(params=[True, False], ids=["pipelining", "lockstep"])
def server(request: pytest.FixtureRequest) -> Iterator[SMTPServer]:
    with SMTPServer(pipelining=request.param) as running:
        yield running


def message(to: str = "ada@example.org", text: str = "New posts this week.\n") -> OutgoingMessage:
    return compose(
        sender="Policy Blog <news@blog.example.org>",
        to=to,
        subject="Hello",
        text=text,
        html="<p>New posts this week.</p>",
    )


def to_many(*recipients: str) -> OutgoingMessage:
    """One message with several envelope recipients."""
    return replace(message(recipients[0]), recipients=recipients)


def backend(server: SMTPServer) -> SMTPBackend:
    return smtp_connection(load_settings(**server.settings))


def outcome(results: list[SendResult]) -> list[tuple[str, bool, bool, str | None]]:
    return [(result.recipient, result.ok, result.permanent, result.error) for result in results]


def envelopes(server: SMTPServer) -> list[bytes]:
    """The reads that carried a MAIL FROM, i.e. where each transaction began."""
    return [segment for segment in server.segments if b"MAIL FROM:" in segment]


def test_envelope_and_data_go_in_one_write_only_where_offered(server: SMTPServer) -> None:
    sent = to_many("ada@example.org", "grace@example.org")
    results = backend(server).send([sent])

    assert [result.ok for result in results] == [True, True]
    assert [r.raw for r in server.received] == [sent.raw]
    [first] = envelopes(server)
    if server.pipelining:
        assert (
            first
            == (
                f"MAIL FROM:<news@blog.example.org> SIZE={len(sent.raw) + 3}\r\n"
                "RCPT TO:<ada@example.org>\r\nRCPT TO:<grace@example.org>\r\nDATA\r\n"
            ).encode()
        )
    else:  # each command waited for the reply to the one before
        assert first.startswith(b"MAIL FROM:<news@blog.example.org>")
        assert first.endswith(b"\r\n") and first.count(b"\r\n") == 1


def test_lines_starting_with_a_dot_arrive_exactly(server: SMTPServer) -> None:
    composed = message(text=".\n..\n.starts with a dot\nmiddle . and end.\n")
    assert b"\r\n.starts with a dot" in composed.raw  # quoted-printable leaves it as it is
    head = b"From: news@blog.example.org\r\nSubject: dots\r\n\r\n"
    crafted = OutgoingMessage(
        "news@blog.example.org",
        ("ada@example.org",),
        "<dots@blog.example.org>",
        head + b".\r\n..\r\n.x\r\nlast line without an end",
    )
    bare_lf = replace(crafted, content=b"Subject: LF only\n\n.one\nx\n.\n")

    results = backend(server).send([composed, crafted, bare_lf])

    assert all(result.ok for result in results)
    assert [r.raw for r in server.received] == [
        composed.raw,
        crafted.raw + b"\r\n",  # DATA ends with a line break
        b"Subject: LF only\r\n\r\n.one\r\nx\r\n.\r\n",
    ]


def test_a_refused_recipient_keeps_its_reply_and_the_others_go(server: SMTPServer) -> None:
    server.rcpt_replies["gone@example.org"] = "550 5.1.1 No such user"
    server.rcpt_replies["full@example.org"] = "452 4.2.2 Mailbox full"
    sent = to_many("ada@example.org", "gone@example.org", "full@example.org", "grace@example.org")
    results = backend(server).send([sent])
    assert outcome(results) == [
        ("ada@example.org", True, False, None),
        ("gone@example.org", False, True, "550 5.1.1 No such user"),
        ("full@example.org", False, False, "452 4.2.2 Mailbox full"),
        ("grace@example.org", True, False, None),
    ]
    assert [r.rcpt_tos for r in server.received] == [("ada@example.org", "grace@example.org")]


def test_a_4xx_at_the_end_of_data_is_for_the_accepted_recipients_only(
    server: SMTPServer,
) -> None:
    server.rcpt_replies["gone@example.org"] = "550 5.1.1 No such user"
    server.data_replies.append("451 4.3.0 Try again later")
    results = backend(server).send([to_many("ada@example.org", "gone@example.org"), message()])
    assert outcome(results) == [
        ("ada@example.org", False, False, "451 4.3.0 Try again later"),
        ("gone@example.org", False, True, "550 5.1.1 No such user"),
        ("ada@example.org", True, False, None),
    ]
    assert len(server.received) == 1 and server.connections == 1


def test_every_recipient_refused_resets_and_the_connection_carries_on(
    server: SMTPServer,
) -> None:
    server.rcpt_replies["gone@example.org"] = "550 5.1.1 No such user"
    server.rcpt_replies["left@example.org"] = "551 5.1.6 Moved away"
    first, second = to_many("gone@example.org", "left@example.org"), message()
    results = backend(server).send([first, second])
    assert outcome(results) == [
        ("gone@example.org", False, True, "550 5.1.1 No such user"),
        ("left@example.org", False, True, "551 5.1.6 Moved away"),
        ("ada@example.org", True, False, None),
    ]
    assert [r.raw for r in server.received] == [second.raw]
    assert server.connections == 1


def test_a_refused_sender_fails_every_recipient_with_its_reply(server: SMTPServer) -> None:
    server.mail_replies.append("550 5.7.1 Sender blocked")
    results = backend(server).send([to_many("ada@example.org", "grace@example.org"), message()])
    assert outcome(results) == [
        ("ada@example.org", False, True, "550 5.7.1 Sender blocked"),
        ("grace@example.org", False, True, "550 5.7.1 Sender blocked"),
        ("ada@example.org", True, False, None),
    ]
    assert len(server.received) == 1 and server.connections == 1


def test_a_421_mid_transaction_retries_once_on_a_fresh_connection(server: SMTPServer) -> None:
    server.mail_replies.append("421 4.3.2 Shutting down")
    sent = to_many("ada@example.org", "grace@example.org")
    results = backend(server).send([sent])
    assert outcome(results) == [
        ("ada@example.org", True, False, None),
        ("grace@example.org", True, False, None),
    ]
    assert [r.raw for r in server.received] == [sent.raw]
    assert server.connections == 2


def test_a_421_for_a_recipient_twice_fails_transiently_and_the_next_goes(
    server: SMTPServer,
) -> None:
    server.rcpt_replies["busy@example.org"] = "421 4.7.0 Too many connections"
    first, second = to_many("ada@example.org", "busy@example.org"), message()
    results = backend(server).send([first, second])
    lost = f"connection to 127.0.0.1:{server.port} lost: 421 4.7.0 Too many connections"
    assert outcome(results) == [
        ("ada@example.org", False, False, lost),
        ("busy@example.org", False, False, lost),
        ("ada@example.org", True, False, None),
    ]
    assert [r.raw for r in server.received] == [second.raw]
    assert server.connections == 3


def test_an_address_no_command_can_carry_sends_nothing(server: SMTPServer) -> None:
    smuggled = to_many("ada@example.org", "eve@example.org>\r\nRCPT TO:<spy@example.org")
    results = backend(server).send([smuggled, message()])
    assert [(r.recipient, r.ok, r.permanent) for r in results] == [
        ("ada@example.org", False, True),
        ("eve@example.org>\r\nRCPT TO:<spy@example.org", False, True),
        ("ada@example.org", True, False),
    ]
    assert "not an address SMTP can carry" in (results[0].error or "")
    assert [r.rcpt_tos for r in server.received] == [("ada@example.org",)]


class HeldTicket:
    """A recording that completes only when the test says so."""

    def __init__(self) -> None:
        self.recorded = threading.Event()

    def wait(self) -> None:
        assert self.recorded.wait(10), "never recorded"


def test_a_message_ends_only_once_the_one_before_its_previous_is_recorded(
    server: SMTPServer,
) -> None:
    """At most two messages per connection are out but unrecorded, and the wait for the
    older one comes after the next message's envelope, not before it."""
    messages = [message(f"reader{n}@example.org") for n in range(3)]
    tickets: list[HeldTicket] = []
    released = threading.Event()  # from then on every outcome counts as recorded

    def done(finished: Finished) -> HeldTicket:
        ticket = HeldTicket()
        tickets.append(ticket)
        if released.is_set():
            ticket.recorded.set()
        return ticket

    connection = backend(server)
    sending = threading.Thread(target=connection.send, args=(messages, done))
    sending.start()
    try:
        deadline = time.monotonic() + 10
        while b"RCPT TO:<reader2@example.org>" not in b"".join(server.segments):
            assert time.monotonic() < deadline, "the third envelope never went"
            time.sleep(0.01)
        time.sleep(0.2)  # time enough for the third message's body, were it to go
        assert [r.rcpt_tos for r in server.received] == [
            ("reader0@example.org",),
            ("reader1@example.org",),
        ]
        tickets[0].recorded.set()
        deadline = time.monotonic() + 10
        while len(server.received) < 3:
            assert time.monotonic() < deadline, "the third message never went"
            time.sleep(0.01)
    finally:  # `send` returns once all are recorded, whatever failed above
        released.set()
        for ticket in list(tickets):
            ticket.recorded.set()
        sending.join(10)
        connection.close()
    assert not sending.is_alive() and len(tickets) == 3


def announced(server: SMTPServer) -> int:
    """Reads in which a message's end brought the next message's envelope with it."""
    return sum(b"\r\n.\r\nMAIL FROM:" in segment for segment in server.segments)


def test_the_next_envelope_goes_with_a_message_end_only_where_offered(
    server: SMTPServer,
) -> None:
    sent = [message(f"reader{n}@example.org", text=f"Copy {n}.\n") for n in range(3)]
    results = backend(server).send(sent)
    assert all(result.ok for result in results)
    assert [r.raw for r in server.received] == [copy.raw for copy in sent]
    assert announced(server) == (2 if server.pipelining else 0)
    assert server.connections == 1


def test_an_announced_message_survives_the_end_before_it_failing(server: SMTPServer) -> None:
    """The next envelope went with an end the server answered 451, or dropped: each
    message still gets its own outcome and goes exactly once."""
    server.data_replies += ["451 4.3.0 Try again later", DROP]
    first, second, third = (message(f"reader{n}@example.org") for n in range(3))
    results = backend(server).send([first, second, third])
    assert outcome(results) == [
        ("reader0@example.org", False, False, "451 4.3.0 Try again later"),
        ("reader1@example.org", True, False, None),  # once more, on a fresh connection
        ("reader2@example.org", True, False, None),
    ]
    assert [r.raw for r in server.received] == [second.raw, third.raw]
    assert server.connections == 2


def test_a_connection_whose_announced_message_never_comes_is_dropped_not_filled(
    server: SMTPServer,
) -> None:
    """If the message announced with the last end is not the one sent next (its batch
    stopped), the server waiting for its content gets none: it never arrives."""
    first, dropped, other = (message(f"reader{n}@example.org") for n in range(3))
    connection = backend(server)
    try:
        assert connection.deliver(first, upcoming=dropped)[0].ok
        assert connection.deliver(other)[0].ok
    finally:
        connection.close()
    assert [r.rcpt_tos for r in server.received] == [(first.recipients), (other.recipients)]
    assert server.connections == (2 if server.pipelining else 1)


def test_the_last_message_a_connection_may_carry_announces_none(server: SMTPServer) -> None:
    connection = SMTPBackend(host=server.host, port=server.port, security="none", max_messages=2)
    sent = [message(f"reader{n}@example.org") for n in range(5)]
    try:
        assert all(result.ok for result in connection.send(sent))
    finally:
        connection.close()
    assert [r.raw for r in server.received] == [copy.raw for copy in sent]
    assert server.connections == 3
    assert announced(server) == (2 if server.pipelining else 0)  # 1st and 3rd, 5th is last


def test_a_message_no_command_can_carry_is_never_announced(server: SMTPServer) -> None:
    first, last = message("ada@example.org"), message("grace@example.org")
    smuggled = replace(message(), recipients=("eve@example.org>\r\nRCPT TO:<spy@example.org",))
    results = backend(server).send([first, smuggled, last])
    assert [(r.recipient, r.ok, r.permanent) for r in results] == [
        ("ada@example.org", True, False),
        ("eve@example.org>\r\nRCPT TO:<spy@example.org", False, True),
        ("grace@example.org", True, False),
    ]
    assert [r.rcpt_tos for r in server.received] == [first.recipients, last.recipients]
    assert b"spy@example.org" not in b"".join(server.segments)


def test_a_next_message_that_cannot_be_made_leaves_the_one_before_untouched(
    server: SMTPServer,
) -> None:
    """Its bytes are made when it is announced; if making them fails, nothing is
    announced, the message before goes as it would have, and the failure is the next
    message's own, raised when it is delivered."""

    def broken() -> bytes:
        raise RuntimeError("cannot sign")

    first, last = message("ada@example.org"), message("grace@example.org")
    unmade = message("eve@example.org").with_head(Later(broken))
    connection = backend(server)
    try:
        assert connection.deliver(first, upcoming=unmade)[0].ok
        with pytest.raises(RuntimeError, match="cannot sign"):
            connection.deliver(unmade, upcoming=last)
        assert connection.deliver(last)[0].ok
    finally:
        connection.close()
    assert [r.raw for r in server.received] == [first.raw, last.raw]
    assert server.connections == 1


class FailedTicket:
    """A recording that will never be made: the writer stopped."""

    def wait(self) -> None:
        raise RuntimeError("the recorder stopped")


def test_a_connection_stops_before_the_next_end_once_recording_fails(server: SMTPServer) -> None:
    """Outcomes that can no longer be recorded stop the connection before another message
    ends: at most the two handed over go unrecorded. It drops the connection without a
    QUIT, which the server, waiting for content, would take as part of a message."""
    messages = [message(f"reader{n}@example.org") for n in range(6)]
    handed: list[Finished] = []

    def done(finished: Finished) -> FailedTicket:
        handed.append(finished)
        return FailedTicket()

    connection = SMTPBackend(host=server.host, port=server.port, security="none", timeout=3)
    with pytest.raises(RuntimeError, match="the recorder stopped"):
        connection.send(messages, done)
    assert len(server.received) == len(handed) == 2
    assert connection.deliver(messages[5])[0].ok  # a fresh connection for what comes next
    connection.close()
    assert server.connections == 2
    sent = b"".join(server.segments)
    assert sent.count(b"MAIL FROM:") == 4  # 3 on the stopped connection, none as its content
    assert sent.count(b"\r\nquit\r\n") == 1  # only the fresh connection's


def test_a_reply_with_control_characters_gives_a_plain_error_line(server: SMTPServer) -> None:
    server.rcpt_replies["ada@example.org"] = "550 5.1.1 gone\x1b[2J\x00for good"
    [result] = backend(server).send([message()])
    assert (result.ok, result.permanent) == (False, True)
    assert result.error == "550 5.1.1 gone[2Jfor good"  # as `clean_text` leaves titles


def test_a_server_that_loses_what_follows_a_message_end_gets_each_envelope_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server that offers PIPELINING but loses the envelope sent with a message's end
    never answers it: after one wait for it times out, that message goes again on a fresh
    connection, the connection sends each envelope on its own, and each message arrives
    once."""
    with SMTPServer(pipelining=True, forgets_after_end=True) as broken:
        connection = SMTPBackend(host=broken.host, port=broken.port, security="none", timeout=0.5)
        readers = [f"reader{number}@example.org" for number in range(4)]
        try:
            results = connection.send([message(reader) for reader in readers])
        finally:
            connection.close()
    assert [(result.recipient, result.ok) for result in results] == [
        (reader, True) for reader in readers
    ]
    assert [received.rcpt_tos for received in broken.received] == [(reader,) for reader in readers]
    announced = [segment for segment in broken.segments if b"\r\n.\r\nMAIL FROM:" in segment]
    assert len(announced) == 1
    assert "unanswered" in caplog.text

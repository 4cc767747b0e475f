"""The SMTP pool against a real aiosmtpd server: concurrency, replies, reconnects, the cap
of messages per connection, and SEND_RATE."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from helpers import message
from smtp_server import DROP, SMTPServer

from pipeline.delivery import (
    SendResult,
    SMTPBackend,
    SMTPPool,
    TokenBucket,
    open_backend,
    smtp_connection,
)
from pipeline.mail import OutgoingMessage
from pipeline.settings import load_settings

pytest_plugins = ["smtp_server"]


def numbered(count: int) -> list[OutgoingMessage]:
    return [message(f"reader{n}@example.org", f"Digest {n}") for n in range(count)]


def pool(server: SMTPServer, **overrides: Any) -> SMTPPool:
    backend = open_backend(load_settings(**{**server.settings, **overrides}))
    assert isinstance(backend, SMTPPool)
    return backend


def outcome(results: list[SendResult]) -> list[tuple[str, bool, bool, str | None]]:
    return [(result.recipient, result.ok, result.permanent, result.error) for result in results]


def test_a_batch_goes_over_every_connection_at_once(smtp_server: SMTPServer) -> None:
    smtp_server.data_delay = 0.1
    messages = numbered(20)
    backend = pool(smtp_server, smtp_connections=4)
    results = backend.send(messages)
    backend.close()

    assert [(r.message_id, r.ok) for r in results] == [(m.message_id, True) for m in messages]
    assert sorted(r.raw for r in smtp_server.received) == sorted(m.raw for m in messages)
    assert smtp_server.connections == 4
    assert len({r.peer for r in smtp_server.received}) == 4
    assert smtp_server.peak_data == 4  # the four connections were in DATA together


def test_connections_stay_open_between_batches(smtp_server: SMTPServer) -> None:
    backend = pool(smtp_server, smtp_connections=3)
    first, second = backend.send(numbered(9)), backend.send(numbered(9))
    backend.close()
    assert all(r.ok for r in first + second)
    assert len(smtp_server.received) == 18
    assert smtp_server.connections == 3


def test_a_small_batch_opens_only_the_connections_it_needs(smtp_server: SMTPServer) -> None:
    results = pool(smtp_server, smtp_connections=4).send([message()])
    assert [r.ok for r in results] == [True]
    assert smtp_server.connections == 1


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [
        ("451 4.3.0 Try again later", False),
        ("452 4.3.1 Insufficient system storage", False),
        ("550 5.7.1 Message rejected as spam", True),
        ("554 5.7.0 Transaction failed", True),
    ],
)
def test_data_replies_decide_the_outcome(
    smtp_server: SMTPServer, reply: str, permanent: bool
) -> None:
    smtp_server.data_replies.append(reply)
    results = pool(smtp_server).send([message()])
    assert outcome(results) == [("ada@example.org", False, permanent, reply)]
    assert smtp_server.received == []


@pytest.mark.parametrize("trouble", ["421 4.3.2 Shutting down", DROP])
def test_a_closing_or_dropped_connection_is_reopened_once(
    smtp_server: SMTPServer, trouble: str
) -> None:
    smtp_server.data_replies.append(trouble)
    sent = message()
    results = pool(smtp_server).send([sent])
    assert outcome(results) == [("ada@example.org", True, False, None)]
    assert [r.raw for r in smtp_server.received] == [sent.raw]
    assert smtp_server.connections == 2


@pytest.mark.parametrize(
    ("trouble", "error"),
    [("421 4.3.2 Shutting down", "421 4.3.2 Shutting down"), (DROP, "lost")],
)
def test_trouble_twice_is_transient(smtp_server: SMTPServer, trouble: str, error: str) -> None:
    smtp_server.data_replies += [trouble, trouble]
    results = pool(smtp_server).send([message()])
    assert [(r.ok, r.permanent) for r in results] == [(False, False)]
    assert error in (results[0].error or "")
    assert smtp_server.received == []
    assert smtp_server.connections == 2  # one reconnect, no more


def test_refused_recipients_map_to_their_messages_across_connections(
    smtp_server: SMTPServer,
) -> None:
    smtp_server.rcpt_replies["reader3@example.org"] = "550 5.1.1 No such user"
    smtp_server.rcpt_replies["reader7@example.org"] = "452 4.2.2 Mailbox full"
    smtp_server.rcpt_replies["reader11@example.org"] = "554 5.7.1 Relay access denied"
    messages = numbered(12)
    results = pool(smtp_server, smtp_connections=4).send(messages)

    refused = {
        "reader3@example.org": (True, "550 5.1.1 No such user"),
        "reader7@example.org": (False, "452 4.2.2 Mailbox full"),
        "reader11@example.org": (True, "554 5.7.1 Relay access denied"),
    }
    expected = [
        (m.recipients[0], False, *refused[m.recipients[0]])
        if m.recipients[0] in refused
        else (m.recipients[0], True, False, None)
        for m in messages
    ]
    assert outcome(results) == expected
    received = Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert received == {m.recipients[0]: 1 for m in messages if m.recipients[0] not in refused}


def test_each_connection_quits_after_its_cap(smtp_server: SMTPServer) -> None:
    connection = smtp_connection(load_settings(**smtp_server.settings))
    connection.max_messages = 3
    backend = SMTPPool([connection], TokenBucket(0))
    results = backend.send(numbered(7))
    backend.close()

    assert all(r.ok for r in results)
    assert smtp_server.connections == 3  # 3 + 3 + 1
    peers = [r.peer for r in smtp_server.received]
    assert [len(set(peers[i : i + 3])) for i in (0, 3, 6)] == [1, 1, 1]
    assert len(set(peers)) == 3


def test_a_connection_that_cannot_connect_leaves_the_batch_to_the_others(
    smtp_server: SMTPServer,
) -> None:
    with SMTPServer() as gone:
        dead_port = gone.port  # free a moment ago, nothing listens there now
    settings = load_settings(**smtp_server.settings)
    dead = SMTPBackend(host=smtp_server.host, port=dead_port, security="none")
    live = [smtp_connection(settings), smtp_connection(settings)]
    messages = numbered(10)
    results = SMTPPool([dead, *live], TokenBucket(0)).send(messages)

    assert [(r.message_id, r.ok) for r in results] == [(m.message_id, True) for m in messages]
    assert len(smtp_server.received) == 10


def test_send_rate_caps_messages_per_second_across_connections(smtp_server: SMTPServer) -> None:
    backend = pool(smtp_server, smtp_connections=4, send_rate=10)
    started = time.monotonic()
    results = backend.send(numbered(20))
    elapsed = time.monotonic() - started

    assert all(r.ok for r in results)
    assert elapsed >= 1.8  # 20 messages at 10/s: the first at once, the last 1.9 s later


def announced(server: SMTPServer) -> int:
    """Reads in which a message's end brought the next message's envelope with it."""
    return sum(b"\r\n.\r\nMAIL FROM:" in segment for segment in server.segments)


def test_with_pipelining_each_connection_announces_its_next_message_with_an_end() -> None:
    with SMTPServer(pipelining=True) as server:
        messages = numbered(40)
        results = pool(server, smtp_connections=4).send(messages)
        assert [(r.message_id, r.ok) for r in results] == [(m.message_id, True) for m in messages]
        assert Counter(r.rcpt_tos for r in server.received) == Counter(
            m.recipients for m in messages
        )
        assert announced(server) >= 40 - 2 * 4  # all but each connection's first and last


def test_under_send_rate_no_message_is_announced_ahead_of_its_turn() -> None:
    with SMTPServer(pipelining=True) as server:
        results = pool(server, smtp_connections=2, send_rate=200).send(numbered(6))
        assert all(r.ok for r in results) and len(server.received) == 6
        assert announced(server) == 0


def test_a_connection_that_cannot_connect_gives_back_what_it_took_ahead() -> None:
    with SMTPServer() as gone:
        dead_port = gone.port
    with SMTPServer(pipelining=True) as server:
        settings = load_settings(**server.settings)
        dead = SMTPBackend(host=server.host, port=dead_port, security="none")
        messages = numbered(10)
        results = SMTPPool([dead, smtp_connection(settings)], TokenBucket(0)).send(messages)
        assert [(r.message_id, r.ok) for r in results] == [(m.message_id, True) for m in messages]
        assert sorted(r.rcpt_tos for r in server.received) == sorted(m.recipients for m in messages)


def test_messages_taken_ahead_by_a_connection_that_cannot_connect_all_get_a_result() -> None:
    """The only connection cannot connect: it gives back the message it took ahead with
    its own, and every message fails as a fault of the channel; none is left without one."""
    with SMTPServer() as gone:
        dead_port = gone.port
    dead = SMTPBackend(host="127.0.0.1", port=dead_port, security="none")
    messages = numbered(5)
    results = SMTPPool([dead], TokenBucket(0)).send(messages)
    assert [(r.message_id, r.ok, r.channel) for r in results] == [
        (m.message_id, False, True) for m in messages
    ]

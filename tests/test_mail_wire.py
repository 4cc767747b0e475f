"""A copy's bytes for the SMTP DATA command, prepared from its template: the same as
preparing the whole message the way smtplib does, for any text and any values."""

from __future__ import annotations

import re
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.mail.template import Recipient, build_template
from pipeline.mail.wire import data_payload

# Lines that need care on the wire: dots first, line ends of every kind, trailing spaces.
TRICKY = st.lists(
    st.sampled_from([".", "..", "\r", "\n", "\r\n", " ", "\t", "=", "a", "é", "%", "<"]),
    max_size=40,
).map("".join)
LINES = st.lists(st.one_of(TRICKY, st.text(max_size=120)), max_size=8).map("\n".join)


def smtplib_style(raw: bytes) -> bytes:
    """What smtplib's `data` sends for `raw` (CRLF already): its period-quoting regex and
    the terminator."""
    quoted = re.sub(rb"(?m)^\.", b"..", raw)
    return quoted + (b"" if quoted.endswith(b"\r\n") else b"\r\n") + b".\r\n"


def crlf_only(raw: bytes) -> bool:
    return raw.count(b"\r") == raw.count(b"\n") == raw.count(b"\r\n")


@settings(max_examples=150, deadline=None)
@given(
    text=LINES,
    html=LINES,
    value=LINES,
    link=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
    name=TRICKY,
    head=st.booleans(),
)
def test_wire_bytes_match_preparing_the_whole_message(
    text: str, html: str, value: str, link: str, name: str, head: bool
) -> None:
    template = build_template(
        sender="Blog <news@example.org>",
        subject="Dots",
        text=f"%%extra%%\n{text}\n.%%extra%%\n",
        html_body=f"<p>{html}</p>\n%%extra%%",
        headers={"List-Unsubscribe": "<https://example.org/u/%%link%%>"},
        variables=("extra", "link"),
    )
    recipient = Recipient("1", "ada@example.org", name, {"extra": value, "link": link})
    message = template.render(recipient)
    if head:
        message = message.with_head(b"X-First: 1\r\n X-Folded: .2\r\n")

    assert crlf_only(message.raw)
    assert message.wire() == smtplib_style(message.raw) == data_payload(message.raw)


def test_bare_carriage_returns_become_line_breaks() -> None:
    template = build_template(
        sender="Blog <news@example.org>",
        subject="CR",
        text="one\rtwo\r\nthree\n%%extra%%",
        html_body="<p>x</p>",
        variables=("extra",),
    )
    message = template.render(Recipient("1", "ada@example.org", "", {"extra": "a\rb\r\nc"}))
    assert crlf_only(message.raw)
    assert b"one\r\ntwo\r\nthree\r\n" in message.raw
    assert b"a\r\nb\r\nc" in message.raw


def test_a_message_whose_bytes_were_replaced_is_prepared_from_them() -> None:
    template = build_template(
        sender="Blog <news@example.org>", subject="S", text="text", html_body="<p>x</p>"
    )
    message = template.render(Recipient("1", "ada@example.org"))
    changed = replace(message, content=b"Subject: other\r\n\r\n.body\r\n")
    assert changed.wire() == b"Subject: other\r\n\r\n..body\r\n.\r\n"

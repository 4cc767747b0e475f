"""Composing email: structure on the wire, header safety, templates."""

from __future__ import annotations

import email
import html
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from email.utils import parsedate_to_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.mail import (
    compose,
    confirmation_message,
    format_address,
    render_email,
    safe_header,
    site_context,
)
from pipeline.settings import load_settings

SENDER = "Policy Blog <news@blog.example.org>"
COMPOSED_HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"]
INJECTIONS = [
    "Hi\r\nBcc: x@evil.example",
    "Hi\nBcc: x@evil.example",
    "Hi\rBcc: x@evil.example",
    "=?UTF-8?Q?=0A?=Bcc: x@evil.example",
    "Hi =?utf-8?b?Cg==?=Bcc: x@evil.example",
    "Hi =?utf-8?q?=0D=0A?= Bcc: x@evil.example",
    "Hi =?UTF-8*en?Q?=0A?=Bcc: x@evil.example",
    "Hi =?utf-8?q?=3D=3Futf-8=3Fq=3F=0A=3F=3D?=Bcc: x@evil.example",  # encoded twice
    "Hi\u2028Bcc: x@evil.example",
    "Hi\x85Bcc: x@evil.example",
]


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def simple(**overrides: str) -> bytes:
    fields = {"to": "ada@example.org", "subject": "Hello", "text": "Hi\n", "html": "<p>Hi</p>"}
    return compose(sender=SENDER, **{**fields, **overrides}).raw


def test_multipart_alternative_with_text_first() -> None:
    text = "Grüße,\n" + "x" * 5000 + "\nend\n"
    message = compose(
        sender=SENDER, to="Ada <ada@example.org>", subject="Hello", text=text, html="<p>Grüße</p>"
    )
    parsed = parse(message.raw)
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert [part["Content-Transfer-Encoding"] for part in parts] == ["quoted-printable"] * 2
    bodies = [part.get_content().replace("\r\n", "\n") for part in parts]  # CRLF on the wire
    assert bodies == [text, "<p>Grüße</p>\n"]
    assert message.sender == "news@blog.example.org"
    assert message.recipients == ("ada@example.org",)


def test_crlf_line_endings_and_no_line_over_998_octets() -> None:
    raw = simple(text="a" * 5000 + "\n" + "b " * 3000, html="<p>" + "c" * 5000 + "</p>")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert raw.isascii()


def test_message_id_unique_on_sender_domain_and_date_present() -> None:
    first = compose(sender=SENDER, to="ada@example.org", subject="s", text="t", html="h")
    second = compose(sender=SENDER, to="ada@example.org", subject="s", text="t", html="h")
    assert first.message_id != second.message_id
    for message in (first, second):
        parsed = parse(message.raw)
        assert parsed["Message-ID"] == message.message_id
        assert re.fullmatch(r"<[^<>@\s]+@blog\.example\.org>", message.message_id)
        sent = parsedate_to_datetime(parsed["Date"])
        assert abs(sent - datetime.now(UTC)) < timedelta(minutes=1)


def test_message_id_domain_can_be_chosen() -> None:
    message = compose(
        sender=SENDER,
        to="a@example.org",
        subject="s",
        text="t",
        html="h",
        message_id_domain="m.example",
    )
    assert message.message_id.endswith("@m.example>")


@pytest.mark.parametrize("payload", INJECTIONS)
def test_no_header_injection_through_subject_or_name(payload: str) -> None:
    message = compose(
        sender=format_address(payload, "news@blog.example.org"),
        to=format_address(payload, "ada@example.org"),
        subject=payload,
        text="t",
        html="h",
        headers={"List-Id": payload},
    )
    parsed = parse(message.raw)
    assert list(parsed.keys()) == [*COMPOSED_HEADERS[:5], "List-Id", *COMPOSED_HEADERS[5:]]
    assert message.recipients == ("ada@example.org",)
    assert [address.addr_spec for address in parsed["To"].addresses] == ["ada@example.org"]
    header_block = message.raw.split(b"\r\n\r\n")[0]
    assert not re.search(rb"^bcc:", header_block, re.IGNORECASE | re.MULTILINE)
    assert "\n" not in str(parsed["Subject"])


header_text = st.lists(
    st.one_of(
        st.text(),
        st.sampled_from(
            ["\r\n", "\n", "=?utf-8?q?=0A?=", "=?utf-8?b?DQo=?=", "Bcc: x@evil", ",", '"']
        ),
    )
).map("".join)


@given(subject=header_text, name=header_text)
def test_no_text_adds_a_header_or_a_recipient(subject: str, name: str) -> None:
    message = compose(
        sender=SENDER,
        to=format_address(name, "ada@example.org"),
        subject=subject,
        text="t",
        html="h",
    )
    parsed = parse(message.raw)
    assert list(parsed.keys()) == COMPOSED_HEADERS
    assert [address.addr_spec for address in parsed["To"].addresses] == ["ada@example.org"]
    assert message.recipients == ("ada@example.org",)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Hi\r\nBcc: x", "Hi Bcc: x"),
        ("=?UTF-8?Q?=0A?=Bcc: x", "Bcc: x"),
        ("a =?utf-8?b?Cg==?= b", "a b"),
        ("a\tb \x00 c\u2028d", "a b c d"),
        ("  spaced   out  ", "spaced out"),
        ("=?utf-8?q?Caf=C3=A9?= au lait", "=?utf-8?q?Caf=C3=A9?= au lait"),  # harmless: kept
        ("=?no-such-charset?q?x?= y", "y"),
        ("Family 👩‍👩‍👧 news", "Family 👩‍👩‍👧 news"),  # zero-width joiners stay
    ],
)
def test_safe_header(value: str, expected: str) -> None:
    assert safe_header(value) == expected


@pytest.mark.parametrize("name", ["Doe, John", 'Jöhn "The" Doe, Jr.', "Zoë", ""])
def test_names_with_specials_stay_one_address(name: str) -> None:
    message = compose(
        sender=SENDER, to=format_address(name, "j@example.org"), subject="s", text="t", html="h"
    )
    (address,) = parse(message.raw)["To"].addresses
    assert (address.display_name, address.addr_spec) == (name, "j@example.org")


def test_non_ascii_subject_round_trips() -> None:
    subject = "Grüße aus Zürich — a long subject line " * 3
    assert parse(simple(subject=subject))["Subject"] == safe_header(subject)


def test_long_url_header_is_not_encoded() -> None:
    url = "<https://blog.example.org/unsubscribe?token=" + "a" * 300 + ">"
    message = compose(
        sender=SENDER,
        to="ada@example.org",
        subject="s",
        text="t",
        html="h",
        headers={"List-Unsubscribe": url},
    )
    assert f"List-Unsubscribe: {url}\r\n".encode() in message.raw


@pytest.mark.parametrize(
    "headers",
    [{"Bcc": "x@evil.example"}, {"Subject": "again"}, {"X-Bad\r\nBcc": "x"}, {"X Space": "x"}],
)
def test_headers_compose_writes_or_bad_names_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="cannot be added"):
        compose(sender=SENDER, to="a@example.org", subject="s", text="t", html="h", headers=headers)


@pytest.mark.parametrize(
    "to", ["not an address", "", "undisclosed-recipients:;", "zoë@exämple.org"]
)
def test_unusable_recipient_is_refused(to: str) -> None:
    with pytest.raises(ValueError):
        compose(sender=SENDER, to=to, subject="s", text="t", html="h")


def test_confirmation_email() -> None:
    settings = load_settings(
        site_title="Policy <Blog> & Co", site_url="https://blog.example.org/", language="de"
    )
    confirm_url = "https://blog.example.org/confirm?token=abc.def&next=/"
    message = confirmation_message(settings, to_email="ada@example.org", confirm_url=confirm_url)
    parsed = parse(message.raw)
    assert parsed["Subject"] == "Confirm your subscription to Policy <Blog> & Co"
    assert parsed["To"] == "ada@example.org"
    assert parsed["Auto-Submitted"] == "auto-generated"
    text_part, html_part = parsed.iter_parts()
    text, page = text_part.get_content(), html_part.get_content()
    assert confirm_url in text
    assert "ignore this email" in text
    assert f'href="{html.escape(confirm_url)}"' in page
    assert '<html lang="de" dir="ltr"' in page
    assert "<h1>Confirm your subscription</h1>" in page
    assert '<meta name="color-scheme" content="light dark"' in page
    assert "prefers-color-scheme: dark" in page
    assert "googleapis" not in page


def test_right_to_left_language_sets_dir() -> None:
    settings = load_settings(language="ar")
    rendered = render_email(
        "confirm", **site_context(settings, title="t"), confirm_url="https://x.example/"
    )
    assert '<html lang="ar" dir="rtl"' in rendered.html
    assert "https://x.example/" in rendered.text

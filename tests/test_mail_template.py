"""Messages built once and personalised per recipient: what each copy carries on the wire."""

from __future__ import annotations

import binascii
import email
import html
from concurrent.futures import ThreadPoolExecutor
from email import policy
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pipeline.delivery.parts import filled
from pipeline.mail.headers import fold, safe_header
from pipeline.mail.template import Recipient, _encode, build_template

UNSUBSCRIBE = "<https://news.example.org/unsubscribe/%%unsubscribe_token%%>"


def template(html: str = '<p>Hello %%name%%, <a href="%%preferences_url%%">prefs</a></p>'):
    return build_template(
        sender="Riverside Notes <news@example.org>",
        subject="Riverside: 3 new posts — Budgets & “trust”",
        text="Hello %%name%%!\nPreferences: %%preferences_url%%\n" + "long line " * 300,
        html_body=html,
        headers={"List-Unsubscribe": UNSUBSCRIBE, "List-Id": "Riverside <news.example.org>"},
        variables=("preferences_url", "unsubscribe_token"),
    )


def recipient(name: str = "Zoë <O'Brien>", email_address: str = "zoe@example.org") -> Recipient:
    return Recipient(
        key="17",
        email=email_address,
        name=name,
        variables={
            "preferences_url": "https://news.example.org/preferences/tok.en-1?a=1&b=2",
            "unsubscribe_token": "tok.en-1",
        },
    )


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def test_each_copy_carries_its_recipients_values() -> None:
    message = template().render(recipient())
    parsed = parse(message.raw)
    assert parsed["To"].addresses[0].display_name == "Zoë <O'Brien>"
    assert parsed["To"].addresses[0].addr_spec == "zoe@example.org"
    assert parsed["Message-ID"] == message.message_id
    assert message.message_id.endswith("@example.org>")
    assert parsed["List-Unsubscribe"] == "<https://news.example.org/unsubscribe/tok.en-1>"
    assert parsed["Subject"] == "Riverside: 3 new posts — Budgets & “trust”"
    text, html = (part.get_content().replace("\r\n", "\n") for part in parsed.iter_parts())
    assert text.startswith(
        "Hello Zoë <O'Brien>!\nPreferences: https://news.example.org/preferences/"
    )
    assert "tok.en-1?a=1&b=2" in text
    assert "Hello Zoë &lt;O&#x27;Brien&gt;," in html
    assert 'href="https://news.example.org/preferences/tok.en-1?a=1&amp;b=2"' in html
    assert [part.get_content_type() for part in parsed.iter_parts()] == ["text/plain", "text/html"]


def test_wire_format_is_crlf_and_short_lines() -> None:
    raw = template().render(recipient(name="x" * 200)).raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_message_ids_differ_and_other_recipients_never_leak() -> None:
    shared = template()
    first = shared.render(recipient(name="Ann", email_address="ann@example.org"))
    second = shared.render(recipient(name="Bo", email_address="bo@example.org"))
    assert first.message_id != second.message_id
    assert b"ann@example.org" not in second.raw and b"Ann" not in second.raw
    assert second.recipients == ("bo@example.org",)


@pytest.mark.parametrize(
    "name", ["Eve\r\nBcc: x@evil.example", "=?UTF-8?Q?=0A?=Bcc: x@evil.example"]
)
def test_names_cannot_add_headers(name: str) -> None:
    parsed = parse(template().render(recipient(name=name)).raw)
    assert parsed["Bcc"] is None
    assert [a.addr_spec for a in parsed["To"].addresses] == ["zoe@example.org"]


def test_undeclared_placeholders_in_content_stay_text() -> None:
    message = template(html="<p>100%%discount%% and %%name%%</p>").render(recipient(name="Ann"))
    html = list(parse(message.raw).iter_parts())[1].get_content()
    assert "<p>100%%discount%% and Ann</p>" in html


def test_a_personalised_subject_is_refused() -> None:
    with pytest.raises(ValueError, match="subject cannot be personalised"):
        build_template(sender="a@example.org", subject="Hi %%name%%", text="t", html_body="h")


def test_api_backends_get_the_same_values() -> None:
    message = template().render(recipient())
    parts = filled(message)
    assert parts.html.startswith(
        '<p>Hello Zoë &lt;O&#x27;Brien&gt;, <a href="https://news.example.org/preferences/'
    )
    unsubscribe = "<https://news.example.org/unsubscribe/tok.en-1>"
    assert (
        parts.headers["List-Unsubscribe"] == parse(message.raw)["List-Unsubscribe"] == unsubscribe
    )
    assert parts.headers["Message-ID"] == message.message_id


def test_render_refuses_at_once_what_a_copys_bytes_could_not_carry() -> None:
    """The bytes are made when first read (an email API never reads them), but a value
    that cannot stand in its slot is refused by `render`, where senders handle it."""
    values = {"preferences_url": "https://news.example.org/p", "unsubscribe_token": "tök"}
    with pytest.raises(ValueError, match="header slot value must be ASCII: 'tök'"):
        template().render(Recipient("1", "zoe@example.org", "Zoë", values))
    with pytest.raises(KeyError, match="unsubscribe_token"):
        template().render(Recipient("1", "zoe@example.org", "Zoë", {"preferences_url": "x"}))


def test_a_copys_bytes_are_made_once_whichever_thread_reads_them_first() -> None:
    message = template().render(recipient())
    headed = message.with_head(b"X-Test: 1\r\n")  # shares the copy's bytes, unmade
    with ThreadPoolExecutor(8) as pool:
        contents = list(pool.map(lambda _: headed.content, range(32)))
    assert all(content is contents[0] for content in contents)
    assert message.content is contents[0] and headed.slots is message.slots
    assert headed.raw == b"X-Test: 1\r\n" + message.content
    assert parse(message.content)["To"].addresses[0].addr_spec == "zoe@example.org"


PLAINISH = st.lists(
    st.sampled_from([*"aZ09.-_/:?@", " ", " ", "=", "&", "<", '"', "'", "\t", "\n", "é", "x" * 30]),
    max_size=40,
).map("".join)


@hypothesis_settings(max_examples=400, deadline=None)
@given(value=PLAINISH, column=st.integers(0, 80))
def test_a_slot_value_taken_as_it_is_is_what_encoding_it_would_give(
    value: str, column: int
) -> None:
    """The shortcut for plain values (most names and links) must agree with escaping,
    quoted-printable and folding, which it skips."""
    clean = safe_header(value)
    expected = {
        "header": fold(clean, column).encode("ascii") if clean.isascii() else None,
        "text": binascii.b2a_qp(value.encode(), istext=True).replace(b"\n", b"\r\n"),
        "html": binascii.b2a_qp(html.escape(value).encode(), istext=True).replace(b"\n", b"\r\n"),
    }
    for context, wanted in expected.items():
        if "\n" in value or wanted is None:
            continue  # line ends are normalised first, a non-ASCII header value refused
        assert _encode(value, context, column) == wanted  # type: ignore[arg-type]

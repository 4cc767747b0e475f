"""Every header the pipeline builds, read back by Python's own mail parser (SMTP policy):
no text of a post, a subscriber or a setting can add a header or a recipient, hide a line
break, reverse the text's direction, or make a line too long for SMTP."""

from __future__ import annotations

import email
import unicodedata
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from helpers import (
    admin_app,
    admin_settings,
    running,
    signed_in,
    tokens,
    wait_until_finished,
    write_post,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.digest.message import digest_recipient, digest_template
from pipeline.digest.render import DigestContent
from pipeline.ingest import ingest
from pipeline.mail import compose, confirmation_message, format_address, safe_header
from pipeline.mail.template import Recipient, build_template
from pipeline.settings import load_settings
from pipeline.storage import Database
from pipeline.web.state import web_state
from subscribers import Subscriber, TokenSigner

UNCLOSED = "Bob =?utf-8?Q?=0D=0ABcc:_x@evil.test"
JOINERS = "\u200c\u200d\u2060"  # zero-width (non-)joiners and the word joiner
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
HOSTILE = [
    UNCLOSED,
    "=?utf-8?Q?=0D=0ABcc:_x@evil.test?=",
    "Hi =?utf-8?b?DQpCY2M6IHhAZXZpbC50ZXN0?= there",
    "=?utf-8?q?=E2=80=AEevil?= name",  # a bidi override, encoded
    "=?utf-8?q?=3D=3Futf-8=3Fq=3F=0A=3F=3D?=Bcc: x@evil",  # an encoded word, encoded
    "Zoë =?utf-8?Q?=0D=0A",
    "a=?x?q?=0A",
    f"evil{BIDI}gnp.exe",
    "😀" * 200,
    "Doe, John" + " long" * 40,
]
pieces = st.sampled_from(
    [
        *HOSTILE,
        "=?",
        "?=",
        "=?utf-8?q?",
        "=?utf-8?b?",
        "=0D=0A",
        "\r\n",
        "Bcc: x@evil",
        ",",
        '"',
        "<",
        "😀",
        "\u200d",
        "\u202e",
        " ",
    ]
)
header_text = st.lists(st.one_of(st.text(max_size=20), pieces), max_size=12).map("".join)
READER = "reader@example.org"
SENDER = "Policy Blog <news@blog.example.org>"
COMPOSED = ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"]
LISTS = ["List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "Reply-To"]
DIGEST_HEADERS = [*COMPOSED[:5], *LISTS, *COMPOSED[5:]]


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=SMTP)
    assert isinstance(message, EmailMessage)
    return message


def header_block(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


def check_round_trip(raw: bytes, names: list[str], short: tuple[str, ...] = ()) -> EmailMessage:
    """`raw`'s headers are exactly `names`, each line fits SMTP (and those of `short` fit
    78 characters); every value decodes to one line without controls; and refolding every
    header (as a mail program forwarding it does) adds none."""
    head = header_block(raw)
    lines = head.split(b"\r\n")
    assert max(map(len, lines)) <= 998
    current = ""
    for line in lines:
        current = current if line.startswith((b" ", b"\t")) else line.split(b":")[0].decode()
        if current in short:
            assert len(line) <= 78, line
    message = parse(raw)
    assert list(message.keys()) == names
    refolded = b""
    for name in names:
        value = str(message[name])
        assert not any(
            unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c not in JOINERS for c in value
        ), name
        refolded += SMTP.fold_binary(name, message[name])
    again = parse(refolded + b"\r\n")
    assert list(again.keys()) == names
    assert max(map(len, refolded.split(b"\r\n"))) <= 998
    return message


@settings(max_examples=150, deadline=None)
@given(subject=header_text, name=header_text, title=header_text)
def test_every_header_we_build_round_trips_through_the_parser(
    subject: str, name: str, title: str
) -> None:
    composed = compose(
        sender=format_address(title, "news@blog.example.org"),
        to=format_address(name, READER),
        subject=subject,
        text="t",
        html="h",
        headers={"X-Title": title},
    )
    parsed = check_round_trip(
        composed.raw,
        [*COMPOSED[:5], "X-Title", *COMPOSED[5:]],
        short=("From", "To"),
    )
    assert [address.addr_spec for address in parsed["To"].addresses] == [READER]
    assert composed.recipients == (READER,)

    # SITE_TITLE is the admin's; control characters in it are another matter (MJML).
    site_title = "".join(c for c in title if unicodedata.category(c) != "Cc") or "Blog"
    config = load_settings(site_title=site_title, email_from=SENDER, reply_to=SENDER)
    content = DigestContent(
        subject=safe_header(subject) or "s", html="h", text="t", dates="d", posts=1, shown=1
    )
    subscriber = Subscriber(email=READER, name=name)
    signer = TokenSigner(["k" * 32])
    digest = digest_template(config, content).render(
        digest_recipient(config, signer, subscriber, "1")
    )
    parsed = check_round_trip(
        digest.raw,
        DIGEST_HEADERS,
        short=("From", "To"),
    )
    assert [address.addr_spec for address in parsed["To"].addresses] == [READER]

    confirmation = confirmation_message(
        config, to_email=READER, confirm_url="https://blog.example.org/c/x"
    )
    check_round_trip(
        confirmation.raw,
        [*COMPOSED[:5], "Auto-Submitted", *COMPOSED[5:]],
        short=("From", "To"),
    )


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_name_stays_one_harmless_recipient(name: str) -> None:
    template = build_template(sender=SENDER, subject=name, text="t", html_body="h")
    raw = template.render(Recipient("1", READER, name)).raw
    parsed = check_round_trip(
        raw,
        COMPOSED,
        short=("To",),
    )
    [address] = parsed["To"].addresses
    assert address.addr_spec == READER
    assert "\n" not in address.display_name and "\r" not in address.display_name
    assert not any(char in BIDI for char in address.display_name + str(parsed["Subject"]))
    assert b"=?utf-8?Q?=0D" not in header_block(raw)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (UNCLOSED, "Bob = ?utf-8?Q?=0D=0ABcc:_x@evil.test"),
        ("=?utf-8?q?ok?= and =?utf-8?q?=0A", "=?utf-8?q?ok?= and = ?utf-8?q?=0A"),
        ("=?utf-8?q?=E2=80=AE?=gnp.exe", "gnp.exe"),
        (f"evil{BIDI}gnp.exe", "evil gnp.exe"),
        ("=\u200b?utf-8?q?=0A", "= ?utf-8?q?=0A"),
        ("100%\u2060%", "100%\u2060%"),
        ("Family 👩\u200d👩\u200d👧", "Family 👩\u200d👩\u200d👧"),
    ],
)
def test_safe_header_neutralises_words_and_drops_format_characters(
    value: str, expected: str
) -> None:
    assert safe_header(value) == expected


def test_a_name_of_200_emoji_is_folded_into_short_lines() -> None:
    name = "😀" * 200
    raw = (
        build_template(sender=SENDER, subject="s", text="t", html_body="h")
        .render(Recipient("1", READER, name))
        .raw
    )
    to_lines = header_block(raw).split(b"To: ", 1)[1].split(b"\r\nSubject:")[0].split(b"\r\n")
    assert len(to_lines) > 10
    assert max(map(len, to_lines)) <= 78 - len("To: ")
    # RFC 2047 drops the space between adjacent encoded-words; Python's parser keeps it
    # in a display name (as it does for its own folding), so compare without it.
    assert parse(raw)["To"].addresses[0].display_name.replace(" ", "") == name


@pytest.fixture
def admin_site(tmp_path: Path, database_url: str, db: Database) -> Iterator[tuple[str, Path]]:
    """The admin on the file backend, one post, and a reader named like an attack."""
    settings = admin_settings(tmp_path, database_url)
    (tmp_path / "posts").mkdir()
    write_post(tmp_path / "posts", "budgets", "Budgets", timedelta(days=1))
    ingest(db, settings)
    app = admin_app(settings, db)
    web_state(app).subscribers.add(READER, name=UNCLOSED, confirmed=True)
    with running(app) as base_url:
        yield base_url, settings.data_dir / "outbox"


def test_the_outbox_shows_mail_to_a_hostile_name(
    admin_site: tuple[str, Path], db: Database
) -> None:
    site, folder = admin_site
    admin = signed_in(site)
    confirm = admin.get(f"{site}/admin/digest/send", params={"frequency": "weekly"}, timeout=10)
    form = tokens(confirm.text) | {"frequency": "weekly"}
    sent = admin.post(f"{site}/admin/digest/send", data=form, allow_redirects=False, timeout=10)
    run_id = int(sent.headers["Location"].rsplit("/", 1)[1])
    assert wait_until_finished(db, run_id).status == "done"
    [mail] = sorted(folder.glob("*.eml"))
    [address] = parse(mail.read_bytes())["To"].addresses
    assert (address.display_name, address.addr_spec) == (
        "Bob = ?utf-8?Q?=0D=0ABcc:_x@evil.test",
        READER,
    )
    # A message written before names were neutralised is shown too.
    legacy = mail.read_bytes().replace(
        b"To: ", b'To: "' + UNCLOSED.encode() + b'" <' + READER.encode() + b">\r\nX-Old: ", 1
    )
    (folder / "0-legacy.eml").write_bytes(legacy)
    listing = admin.get(f"{site}/admin/outbox", timeout=10)
    assert listing.status_code == 200 and "0-legacy.eml" in listing.text
    for name in (mail.name, "0-legacy.eml"):
        shown = admin.get(f"{site}/admin/outbox/{name}", timeout=10)
        assert shown.status_code == 200, name
        assert READER in shown.text


def test_a_site_title_that_looks_like_a_slot_stays_text() -> None:
    """SITE_TITLE `%%to%%` once made every confirmation mail fail to build (its subject
    looked personalised) and would have printed the reader's address in the body."""
    config = load_settings(site_title="Notes %%to%% %%email%%", email_from=SENDER)
    message = confirmation_message(config, to_email=READER, confirm_url="https://b.example/c/x")
    parsed = email.message_from_bytes(message.raw, policy=SMTP)
    assert parsed["Subject"].startswith("Confirm your subscription to Notes %")
    text = parsed.get_body(("plain",)).get_content()
    assert "Notes %\u2060%to%\u2060% %\u2060%email%\u2060%" in text
    assert text.count(READER) == 0

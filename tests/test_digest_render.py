"""The digest email: what each recipient's copy carries, its safety and its size."""

from __future__ import annotations

import email
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from html import unescape
from pathlib import Path

import dkim
import pytest
from dkim import dknewkey

from pipeline.delivery.parts import filled
from pipeline.digest import (
    DigestContent,
    digest_recipient,
    digest_template,
    message_parts,
    render_digest,
)
from pipeline.mail.dkim import dkim_signer
from pipeline.mail.template import OutgoingMessage
from pipeline.settings import Settings, SettingsProblem, load_settings
from pipeline.storage.models import Post
from subscribers import Subscriber, TokenSigner

SITE = "https://blog.example.org"
SIGNER = TokenSigner(["a-test-signing-key-of-some-length"])
GMAIL_CLIP = 102_000
EN = "\u2013"  # the en dash of date ranges
INJECTIONS = ["Hi\r\nBcc: x@evil.example", "=?UTF-8?Q?=0A?=Bcc: x@evil.example"]


def site(**overrides: object) -> Settings:
    defaults = {
        "site_url": SITE + "/",
        "site_title": "Policy Blog",
        "email_from": "Policy Blog <news@blog.example.org>",
    }
    return load_settings(**(defaults | overrides))


def post(number: int = 0, **fields: object) -> Post:
    values: dict[str, object] = {
        "guid": f"guid-{number}",
        "slug": f"post-{number}",
        "title": f"Post {number}",
        "url": f"{SITE}/posts/post-{number}",
        "authors": ["Ann Author"],
        "tags": [],
        "summary": f"What post {number} says.",
        "content_html": "<p>Body</p>",
        "published": datetime(2026, 11, 3, 12, tzinfo=UTC) - timedelta(days=number),
    }
    return Post(**(values | fields))


def subscriber(name: str = "Zoë", address: str = "zoe@example.org") -> Subscriber:
    return Subscriber(id=7, email=address, name=name, token_nonce="nonce-1")


def send(
    settings: Settings, posts: Sequence[Post], person: Subscriber | None = None
) -> tuple[DigestContent, OutgoingMessage]:
    content = render_digest(settings, posts)
    recipient = digest_recipient(settings, SIGNER, person or subscriber(), "outbox-1")
    return content, digest_template(settings, content).render(recipient)


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def token() -> str:
    return SIGNER.manage_token(subscriber())


def test_wire_structure_and_list_headers() -> None:
    settings = site(reply_to="Editors <editors@blog.example.org>")
    _, message = send(settings, [post(0), post(1)])
    parsed = parse(message.raw)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in parsed.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert parsed["List-Id"] == "Policy Blog <policy-blog.blog.example.org>"
    assert parsed["List-Unsubscribe"] == f"<{SITE}/unsubscribe/{token()}>"  # no unread mailto
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Reply-To"] == "Editors <editors@blog.example.org>"
    assert parsed["To"].addresses[0].addr_spec == "zoe@example.org"
    assert b"\n" not in message.raw.replace(b"\r\n", b"")
    assert max(len(line) for line in message.raw.split(b"\r\n")) <= 998


@pytest.mark.parametrize(
    ("overrides", "mailto"),
    [
        ({"email_backend": "mailgun", "unsubscribe_mailbox": "out@mg.blog.example.org"}, False),
        ({"email_backend": "smtp", "mailgun_webhook_signing_key": "k" * 32,
          "unsubscribe_mailbox": "out@mg.blog.example.org"}, False),
        ({"email_backend": "mailgun", "mailgun_webhook_signing_key": "k" * 32}, False),
        ({"email_backend": "mailgun", "mailgun_webhook_signing_key": "k" * 32,
          "unsubscribe_mailbox": "out@mg.blog.example.org"}, True),
    ],
)  # fmt: skip
def test_mailto_only_where_a_signed_inbound_route_reads_it(
    overrides: dict[str, str], mailto: bool
) -> None:
    settings = site(api_key="key-0123456789", mailgun_domain="mg.blog.example.org", **overrides)
    _, message = send(settings, [post()])
    expected = f"<{SITE}/unsubscribe/{token()}>"
    if mailto:
        expected += f", <mailto:out@mg.blog.example.org?subject=unsubscribe%20{token()}>"
    assert parse(message.raw)["List-Unsubscribe"] == expected


def test_no_reply_to_unless_set() -> None:
    _, message = send(site(), [post()])
    assert parse(message.raw)["Reply-To"] is None


def test_both_parts_link_with_the_recipients_token() -> None:
    _, message = send(site(), [post()])
    html, text = message_parts(message)
    for url in (f"{SITE}/unsubscribe/{token()}", f"{SITE}/preferences/{token()}"):
        assert f'href="{url}"' in html
        assert url in text
    assert "%%" not in html and "%%" not in text


def test_content_lists_posts_with_links_authors_dates_and_summaries() -> None:
    settings = site(postal_address="1 Edgbaston Park Road, Birmingham", timezone="Asia/Tokyo")
    posts = [
        post(0, title="Crossing sectors", authors=["Ann", "Bo", "Cy", "Di", "Ed"]),
        post(1, title="Evidence", published=datetime(2026, 11, 2, 23, 30, tzinfo=UTC)),
    ]
    content, message = send(settings, posts)
    html, text = message_parts(message)
    assert (content.posts, content.shown) == (2, 2)
    assert content.subject == "Policy Blog: 2 new posts, 3 November 2026"
    for part in (html, text):
        assert "2 new posts" in part
        assert "By Ann, Bo, Cy and 2 others · " in part
        assert "By Ann Author · " in part
        assert "What post 0 says." in part
        assert "Read “Crossing sectors”" in part
        assert "Read more" not in part
        assert "because you subscribed to" in part
        assert "1 Edgbaston Park Road, Birmingham" in part
    link = f'<a href="{SITE}/posts/post-0" style="text-decoration: none;">Crossing sectors</a>'
    assert link in html
    assert html.count('<time datetime="2026-11-03">3 November 2026</time>') == 2
    assert text.count("· 3 November 2026\n") == 2  # 23:30 UTC on the 2nd is the 3rd in Tokyo
    assert f"Read “Evidence”: {SITE}/posts/post-1" in text
    assert "more posts on" not in html


def test_the_site_title_is_said_once_above_a_headline_and_the_date_range() -> None:
    content, message = send(site(), [post(0), post(6)])
    html, text = message_parts(message)
    assert content.dates == f"28 October {EN} 3 November 2026"
    heading = html.index("<h1>2 new posts</h1>")
    assert "Policy Blog" not in html[html.index("<body") : heading].split("</a>", 1)[1]
    assert html.count(">Policy Blog</a>") == 2  # the masthead and the footer's reason
    assert f"28 October {EN} 3 November 2026" in html[heading:]
    assert text.startswith(f"Policy Blog\n===========\n\n2 new posts, 28 October {EN} 3 November")


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (("2026-11-03",), "3 November 2026"),
        (("2026-11-03", "2026-11-01", "2026-11-02"), f"1{EN}3 November 2026"),
        (("2026-11-03", "2026-10-31"), f"31 October {EN} 3 November 2026"),
        (("2026-01-03", "2025-12-24"), f"24 December 2025 {EN} 3 January 2026"),
    ],
)
def test_date_range_says_each_part_once(days: tuple[str, ...], expected: str) -> None:
    posts = [
        post(number, published=datetime.fromisoformat(f"{day}T12:00:00+00:00"))
        for number, day in enumerate(days)
    ]
    assert render_digest(site(), posts).dates == expected


def test_subject_names_the_date_range_and_one_posts_title() -> None:
    assert render_digest(site(), [post(), post(1)]).subject == (
        f"Policy Blog: 2 new posts, 2{EN}3 November 2026"
    )
    assert render_digest(site(), [post()]).subject == "Policy Blog: Post 0 (3 November 2026)"
    custom = site(digest_subject="{count} from {site}: {first_title}, {dates}")
    assert render_digest(custom, [post()]).subject == "1 from Policy Blog: Post 0, 3 November 2026"


def test_the_preheader_is_hidden_without_a_colour_of_its_own() -> None:
    html = render_digest(site(), [post(0, title="Budgets"), post(1)]).html
    [hidden] = re.findall(r'<div style="display: none;[^"]*">([^<]*)</div>', html)
    assert hidden.startswith("2 new posts: Budgets · Post 1")
    assert "color:#ffffff" not in html.replace(" ", "").split("<body", 1)[1].split("class=")[0]


def test_post_text_is_escaped_in_html_and_plain_in_text() -> None:
    title = """<script>alert("x")</script> Fish & chips 'n' "quotes" 😀"""
    rtl = "שלום עולם \u200f\u0645\u0631\u062d\u0628\u0627"  # Hebrew, RLM, Arabic
    posts = [
        post(0, title=title, summary="<b>bold</b> & more", authors=["O'Brien <ob@x.org>"]),
        post(1, title=rtl, url="https://example.org/caf\u00e9 \\ \u00a0x"),
    ]
    _, message = send(site(digest_subject="{site}: {first_title}"), posts)
    html, text = message_parts(message)
    assert "<script>" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Fish &amp; chips" in html
    assert "&#39;n&#39; &#34;quotes&#34; 😀" in html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in html
    assert "O&#39;Brien &lt;ob@x.org&gt;" in html
    assert rtl in html and rtl in text
    assert 'href="https://example.org/caf%C3%A9%20%5C%20%C2%A0x"' in html
    assert title in text and "<b>bold</b> & more" in text
    assert parse(message.raw)["Subject"] == f"Policy Blog: {title}"


def test_a_post_cannot_fill_a_slot() -> None:
    sneaky = "%%email%% %%%name%%% %%unsubscribe_url%% %%to%%"
    posts = [
        post(0, title=sneaky, summary=sneaky, authors=[sneaky], url=f"{SITE}/{sneaky}"),
        post(1, title="100%", summary="%email%%"),  # halves of a slot across two fields
    ]
    _, message = send(site(site_title="Blog %%email%%"), posts)
    html, text = message_parts(message)
    parsed = parse(message.raw)
    for part in (html, text, parsed["Subject"], parsed["List-Id"]):
        assert "zoe@example.org" not in part
        assert "Zoë" not in part
        assert "%%" not in part
    assert html.count(token()) == 2 and text.count(token()) == 2  # only the footer's links
    assert "%\u2060%email%\u2060%" in html and "%\u2060%email%\u2060%" in text


@pytest.mark.parametrize("payload", INJECTIONS)
def test_titles_and_names_cannot_add_headers(payload: str) -> None:
    _, message = send(site(), [post(title=payload)], subscriber(name=payload))
    parsed = parse(message.raw)
    assert parsed["Bcc"] is None
    assert "\n" not in parsed["Subject"] and "\r" not in parsed["Subject"]
    assert [address.addr_spec for address in parsed["To"].addresses] == ["zoe@example.org"]


def long_posts(count: int) -> list[Post]:
    words = "council budget evidence résidents partnership “trust” & <care> "
    return [
        post(
            number,
            title=f"{number}: " + words * 6,
            summary=(words * 12)[:300],
            authors=[f"Author {letter}" for letter in "ABCDEF"],
            url=f"{SITE}/posts/{'very-long-slug-' * 8}{number}",
        )
        for number in range(count)
    ]


def test_sixty_long_posts_stay_under_gmails_clip() -> None:
    content, message = send(site(), long_posts(60))
    html, _ = message_parts(message)
    assert len(html.encode()) < GMAIL_CLIP
    assert (content.posts, content.shown) == (60, 60)
    assert html.count("<h2") == 60
    assert f"{SITE}/unsubscribe/{token()}" in html  # the footer survived
    assert "more posts on" not in html


def test_too_many_posts_cut_the_list_and_link_to_the_rest() -> None:
    content, message = send(site(), long_posts(150))
    html, text = message_parts(message)
    more = content.posts - content.shown
    assert content.posts == 150 and 0 < content.shown < 150
    assert len(html.encode()) < GMAIL_CLIP
    assert html.count("<h2") == content.shown
    assert "Read more" not in html  # titles only
    assert f'<a href="{SITE}">{more} more posts on the site</a>' in html
    assert f"{more} more posts on the site: {SITE}" in text
    bigger = render_digest(site(), long_posts(150)[: content.shown + 1])
    assert bigger.shown == content.shown  # one post more would not have fitted


def test_summaries_shorten_before_posts_are_cut() -> None:
    content = render_digest(site(), long_posts(70))
    summaries = re.findall(r'<p style="margin: 8px 0 0;">([^<]*)</p>', content.html)
    assert content.shown == 70 and len(summaries) == 70
    assert all(len(unescape(summary)) <= 120 for summary in summaries)
    assert len(content.html.encode()) < GMAIL_CLIP


@pytest.mark.parametrize(("language", "direction"), [("en-GB", "ltr"), ("he", "rtl")])
def test_language_direction_dark_mode_and_headings(language: str, direction: str) -> None:
    html = render_digest(site(language=language), [post(0), post(1)]).html
    assert f'<html lang="{language}" dir="{direction}"' in html
    assert '<meta name="color-scheme" content="light dark"' in html
    assert "@media (prefers-color-scheme: dark)" in html
    assert "<h1>2 new posts</h1>" in html and html.count("<h2") == 2
    assert '<div class="muted">' in html  # the meta line's dark-mode colour
    assert f"text-align:{'right' if direction == 'rtl' else 'left'};color:#1f2328" in html
    assert "<img" not in html or re.search(r"<img(?![^>]*\balt=)", html) is None
    assert "2 new posts: Post 0 · Post 1" in html  # the hidden preheader


def test_a_link_that_is_not_a_web_address_goes_to_the_sites_page() -> None:
    html = render_digest(site(), [post(url="javascript:alert(1)")]).html
    assert "javascript:" not in html
    assert f'href="{SITE}/posts/post-0"' in html


def test_an_empty_selection_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one post"):
        render_digest(site(), [])


def test_message_parts_are_what_was_sent() -> None:
    settings = site()
    content = render_digest(settings, [post()])
    template = digest_template(settings, content)
    recipient = digest_recipient(settings, SIGNER, subscriber(), "outbox-1")
    message = template.render(recipient)
    html, text = message_parts(message)
    parts = filled(message)  # what the email APIs are given instead of the MIME bytes
    assert html == parts.html + "\n"  # a body on the wire ends with a line break
    assert text == parts.text


@pytest.fixture
def dkim_key(tmp_path: Path) -> tuple[Path, bytes]:
    """A fresh 2048-bit RSA key and its DNS TXT record, made with dkimpy's helper."""
    if not Path(dknewkey.OPENSSL_BINARY).exists():
        pytest.skip("dkimpy's key helper needs openssl")
    key, record = tmp_path / "dkim.key", tmp_path / "dkim.dns"
    dknewkey.GenRSAKeys(str(key), verbose=False)
    dknewkey.ExtractRSADnsPublicKey(str(key), str(record), verbose=False)
    return key, record.read_bytes()


def test_dkim_signature_verifies_and_covers_the_list_headers(
    dkim_key: tuple[Path, bytes],
) -> None:
    key, record = dkim_key
    settings = site(dkim_key_file=key, dkim_selector="mail", dkim_domain="blog.example.org")
    sign = dkim_signer(settings)
    assert sign is not None
    _, message = send(settings, [post()])
    signed = sign(message)
    looked_up: list[bytes] = []

    def dns(name: bytes, timeout: int = 5) -> bytes:
        looked_up.append(name)
        return record

    assert signed.raw.startswith(b"DKIM-Signature: ")
    assert max(len(line) for line in signed.raw.split(b"\r\n")) <= 998
    assert signed.raw.endswith(message.raw)
    assert (signed.message_id, signed.recipient) == (message.message_id, message.recipient)
    assert dkim.verify(signed.raw, dnsfunc=dns)
    assert looked_up == [b"mail._domainkey.blog.example.org."]
    fields = dkim.util.parse_tag_value(parse(signed.raw)["DKIM-Signature"].encode())
    signed_headers = [name.strip().lower() for name in fields[b"h"].split(b":")]
    for name in (b"from", b"to", b"subject", b"date", b"message-id", b"list-id"):
        assert name in signed_headers
    assert b"list-unsubscribe" in signed_headers and b"list-unsubscribe-post" in signed_headers
    tampered = signed.raw.replace(b"/unsubscribe/", b"/unsubscribe-evil/", 1)
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_no_dkim_without_settings_and_a_bad_key_is_a_settings_problem(tmp_path: Path) -> None:
    assert dkim_signer(site()) is None
    junk = tmp_path / "junk.key"
    junk.write_text("not a key\n")
    for path in (junk, tmp_path / "missing.key"):
        settings = site(dkim_key_file=path, dkim_selector="mail", dkim_domain="example.org")
        with pytest.raises(SettingsProblem, match="NEWSLETTER_DKIM_KEY_FILE"):
            dkim_signer(settings)

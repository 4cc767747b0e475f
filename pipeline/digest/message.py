"""The digest as a message template, one recipient's values, and what a copy shows.

RFC 2369 and RFC 8058 list headers let mail clients offer their own unsubscribe button,
and bulk-sender rules at Gmail and Yahoo require the one-click kind: a POST to the URL
in List-Unsubscribe, next to a mailto fallback for clients that only send mail where
something reads that mail.
"""

from __future__ import annotations

import email
import re
import unicodedata
from email.policy import default
from email.utils import formataddr, parseaddr
from typing import Protocol

from pipeline.delivery.inbound import mailto_unsubscribe
from pipeline.digest.render import DigestContent
from pipeline.mail.headers import safe_header
from pipeline.mail.template import (
    MessageTemplate,
    OutgoingMessage,
    Recipient,
    build_template,
    inert,
)
from pipeline.settings import Settings
from subscribers import TokenSigner

VARIABLES = ("unsubscribe_url", "preferences_url", "unsubscribe_token")

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def digest_template(settings: Settings, content: DigestContent) -> MessageTemplate:
    """The digest's MIME, built once, with the list headers every copy carries."""
    return build_template(
        sender=settings.email_from,
        subject=content.subject,
        text=content.text,
        html_body=content.html,
        headers=list_headers(settings),
        variables=VARIABLES,
    )


def list_headers(settings: Settings) -> dict[str, str]:
    """List-Id, List-Unsubscribe (the one-click URL, then a mailto where its mail is
    processed: see `pipeline.delivery.inbound`), and Reply-To when set."""
    unsubscribe = "<%%unsubscribe_url%%>"
    if mailbox := mailto_unsubscribe(settings):
        unsubscribe += f", <mailto:{mailbox}?subject=unsubscribe%20%%unsubscribe_token%%>"
    headers = {
        "List-Id": formataddr((inert(safe_header(settings.site_title)), list_id(settings))),
        "List-Unsubscribe": unsubscribe,
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    if settings.reply_to:
        headers["Reply-To"] = formataddr(parseaddr(settings.reply_to))
    return headers


def list_id(settings: Settings) -> str:
    """RFC 2919 `site-slug.host`: stable while the site keeps its title and address."""
    ascii_title = unicodedata.normalize("NFKD", settings.site_title).encode("ascii", "ignore")
    slug = _NOT_SLUG.sub("-", ascii_title.decode().lower()).strip("-") or "newsletter"
    return f"{slug}.{settings.site_url.host}"


class Reader(Protocol):
    """What a copy needs of its subscriber: a `Subscriber`, or a claimed outbox row's."""

    @property
    def id(self) -> int: ...

    @property
    def email(self) -> str: ...

    @property
    def name(self) -> str | None: ...

    @property
    def token_nonce(self) -> str: ...


def digest_recipient(
    settings: Settings, signer: TokenSigner, subscriber: Reader, key: str
) -> Recipient:
    """`subscriber` as a recipient: the links in their copy carry their manage token."""
    token, base = signer.manage_token(subscriber), settings.base_url
    return Recipient(
        key=key,
        email=subscriber.email,
        name=subscriber.name or "",
        variables={
            "unsubscribe_url": f"{base}/unsubscribe/{token}",
            "preferences_url": f"{base}/preferences/{token}",
            "unsubscribe_token": token,
        },
    )


def message_parts(message: OutgoingMessage) -> tuple[str, str]:
    """(html, text) decoded from the message's own bytes, so a preview shows exactly what
    is sent; line ends are `\\n`."""
    parsed = email.message_from_bytes(message.raw, policy=default)
    bodies = {part.get_content_subtype(): part.get_content() for part in parsed.iter_parts()}
    return bodies["html"].replace("\r\n", "\n"), bodies["plain"].replace("\r\n", "\n")

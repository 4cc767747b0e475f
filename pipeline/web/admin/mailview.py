"""Reading an email back for the admin: its headers, its text part and its HTML part.

The digest preview and the sent-mail viewer both show messages from their own bytes, so
what the admin sees is what the recipient's mail program gets.
"""

from __future__ import annotations

import email
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from typing import BinaryIO

HEADERS_LISTED = ("Date", "From", "To", "Subject")


@dataclass(frozen=True)
class MailView:
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None

    def header(self, name: str) -> str:
        return next((value for key, value in self.headers if key.lower() == name.lower()), "")


def read_mail(raw: bytes) -> MailView:
    """Every header (decoded), and the text and HTML bodies if the message has them."""
    message = email.message_from_bytes(raw, policy=default)
    return MailView(
        [(name, _shown(name, value)) for name, value in message.raw_items()],
        _body(message, "plain"),
        _body(message, "html"),
    )


def read_headers(file: BinaryIO) -> dict[str, str]:
    """The headers of the message in `file` that a list of messages shows (not the body)."""
    message = BytesParser(policy=default).parse(file, headersonly=True)
    raw = {name.lower(): value for name, value in message.raw_items()}
    return {name: _shown(name, raw.get(name.lower(), "")) for name in HEADERS_LISTED}


def _shown(name: str, raw: str) -> str:
    """The header decoded; if it cannot be (the email package refuses an address whose
    encoded-words decode to a line break, and raises many kinds of error on other hostile
    headers), its raw text on one line, so the page still shows the message."""
    try:
        return str(default.header_fetch_parse(name, raw))
    except Exception:
        return " ".join(raw.split())


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    return part.get_content().replace("\r\n", "\n")

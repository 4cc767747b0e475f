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
from pathlib import Path
from typing import cast

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
    message = cast(EmailMessage, email.message_from_bytes(raw, policy=default))
    return MailView(
        [(name, str(value)) for name, value in message.items()],
        _body(message, "plain"),
        _body(message, "html"),
    )


def read_headers(path: Path) -> dict[str, str]:
    """The headers of the message in `path` that a list of messages shows (not the body)."""
    with path.open("rb") as file:
        message = BytesParser(policy=default).parse(file, headersonly=True)
    return {name: str(message.get(name, "")) for name in HEADERS_LISTED}


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    return part.get_content().replace("\r\n", "\n")

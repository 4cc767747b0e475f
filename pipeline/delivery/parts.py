"""What the email APIs send instead of MIME bytes: a message's parts, filled or slotted.

Postmark and Resend take each message whole, so each recipient's parts are filled here.
SendGrid and Mailgun take one body for many recipients and substitute per recipient
themselves, so their parts keep placeholders, and each recipient gets the values of the
slots, escaped for the context the slot stands in (as the MIME bytes are): HTML-escaped in
the HTML part, one safe line in a header, as they are in plain text.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pipeline.mail.headers import safe_header
from pipeline.mail.template import Context, MessageTemplate, OutgoingMessage


@dataclass(frozen=True)
class Parts:
    """One recipient's message as an API takes it; header values are single safe lines."""

    sender: str
    to: str
    subject: str
    text: str
    html: str
    headers: Mapping[str, str]


def structured(message: OutgoingMessage) -> bool:
    """Whether `message` has parts to send (it was rendered from a template)."""
    return message.template is not None and message.recipient is not None


def filled(message: OutgoingMessage) -> Parts:
    """`message` with every slot filled."""
    template, known = values(message)
    return Parts(
        sender=template.from_header,
        to=known["to"],
        subject=template.subject,
        text=_fill(template, template.text, known, "text"),
        html=_fill(template, template.html, known, "html"),
        headers=headers(message),
    )


def headers(message: OutgoingMessage, known: Mapping[str, str] | None = None) -> dict[str, str]:
    """The message's own headers with their slots filled, Message-ID first; `known` is
    `values(message)[1]` if the caller has it already."""
    template, known = (message.template, known) if known is not None else values(message)
    assert template is not None, "see structured()"
    filled = {"Message-ID": message.message_id}
    for name, pieces in template.derived(_HEADERS, _header_pieces):
        filled[name] = (
            pieces[0]
            if len(pieces) == 1
            else "".join(
                piece if index % 2 == 0 else safe_header(known[piece])
                for index, piece in enumerate(pieces)
            )
        )
    return filled


_HEADERS = "parts-headers"


def _header_pieces(template: MessageTemplate) -> tuple[tuple[str, list[str]], ...]:
    """Each of the template's headers, its value split at its slots (text, slot name, text
    …), worked out once per template rather than searched for slots per recipient."""
    return tuple((name, template.slot.split(value)) for name, value in template.headers.items())


def values(message: OutgoingMessage) -> tuple[MessageTemplate, Mapping[str, str]]:
    """The message's template, and every slot's raw value for its recipient (as `render`
    worked them out)."""
    assert message.template is not None and message.recipient is not None, "see structured()"
    return message.template, message.values


def slotted(template: MessageTemplate, part: str, placeholder: Callable[[str], str]) -> str:
    """`part` with each slot replaced by `placeholder(slot name)`, in the provider's syntax."""
    return template.slot.sub(lambda match: placeholder(match.group(1)), part)


def slots_in(template: MessageTemplate, *parts: str) -> list[str]:
    """The names of the slots `parts` use, each once, in order of first use."""
    return list(
        dict.fromkeys(match.group(1) for part in parts for match in template.slot.finditer(part))
    )


# How a slot's value is made safe for where it stands: as it is in plain text.
ESCAPES: Mapping[Context, Callable[[str], str]] = {
    "text": str,
    "html": html.escape,
    "header": safe_header,
}


def escaped(value: str, context: Context) -> str:
    """A slot's value made safe for where it stands."""
    return ESCAPES[context](value)


def _fill(template: MessageTemplate, part: str, known: Mapping[str, str], context: Context) -> str:
    return template.slot.sub(lambda match: escaped(known[match.group(1)], context), part)

"""SendGrid: POST /v3/mail/send, one template's parts for up to 1,000 personalizations.

SendGrid substitutes each personalization's values into every part alike, so the HTML part
gets keys of its own (`%%html:name%%`) with escaped values, while the text keeps ours
(`%%name%%`). It does not substitute in headers, so each personalization carries its own,
filled. A 202 accepts the whole request and names it in `X-Message-Id`.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.header import decode_header, make_header
from email.utils import parseaddr

import requests

from pipeline.delivery.api import Accepted, Call, Outcome
from pipeline.delivery.parts import escaped, headers, slots_in, slotted, values
from pipeline.mail.template import MessageTemplate, OutgoingMessage


class SendGrid:
    name = "SendGrid"
    url = "https://api.sendgrid.com"
    batch_size = 1000
    per_template = True

    def __init__(self, api_key: str) -> None:
        self.headers = {"Authorization": f"Bearer {api_key}"}

    def call(self, batch: Sequence[OutgoingMessage]) -> Call:
        template, _ = values(batch[0])
        text_slots, html_slots = (
            slots_in(template, template.text),
            slots_in(template, template.html),
        )
        return Call(
            "/v3/mail/send",
            json={
                "personalizations": [
                    _personalization(message, text_slots, html_slots) for message in batch
                ],
                "from": _named(*_sender(template)),
                "subject": template.subject,
                "content": [
                    {"type": "text/plain", "value": template.text},
                    {"type": "text/html", "value": slotted(template, template.html, _html_key)},
                ],
            },
        )

    def outcomes(
        self, batch: Sequence[OutgoingMessage], response: requests.Response
    ) -> list[Outcome]:
        return [Accepted(response.headers.get("X-Message-Id"))] * len(batch)


def _personalization(
    message: OutgoingMessage, text_slots: list[str], html_slots: list[str]
) -> dict[str, object]:
    _, known = values(message)
    substitutions = {f"%%{name}%%": known[name] for name in text_slots} | {
        _html_key(name): escaped(known[name], "html") for name in html_slots
    }
    personalization: dict[str, object] = {
        "to": [_named(known["name"], known["email"])],
        "headers": headers(message, known),
    }
    if substitutions:
        personalization["substitutions"] = substitutions
    return personalization


def _html_key(slot: str) -> str:
    return f"%%html:{slot}%%"


def _sender(template: MessageTemplate) -> tuple[str, str]:
    """The From name (decoded if `formataddr` encoded it) and address."""
    name, address = parseaddr(template.from_header)
    return str(make_header(decode_header(name))), address


def _named(name: str, email: str) -> dict[str, str]:
    return {"email": email, "name": name} if name else {"email": email}

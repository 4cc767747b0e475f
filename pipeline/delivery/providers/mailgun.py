"""Mailgun: POST /v3/DOMAIN/messages, one template to up to 1,000 recipients.

Each recipient is a `to` of its own and has an entry in `recipient-variables`: with those,
Mailgun sends a separate message per recipient, so no one sees another's address. Every
slot becomes `%recipient.<context>_<slot>%`, with the value escaped for its context; the
prefix keeps an HTML value from ever standing in for a plain one of the same slot.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from urllib.parse import quote

import requests

from pipeline.delivery.api import Accepted, Call, Outcome
from pipeline.delivery.parts import escaped, slots_in, slotted, values
from pipeline.mail.template import Context, OutgoingMessage

MESSAGE_ID = "message_id"  # the variable holding each recipient's Message-ID


class Mailgun:
    name = "Mailgun"
    url = "https://api.mailgun.net"
    batch_size = 1000
    per_template = True

    def __init__(self, api_key: str, domain: str) -> None:
        token = base64.b64encode(f"api:{api_key}".encode()).decode("ascii")
        self.headers = {"Authorization": f"Basic {token}"}
        self.path = f"/v3/{quote(domain, safe='')}/messages"

    def call(self, batch: Sequence[OutgoingMessage]) -> Call:
        template, _ = values(batch[0])
        used: dict[Context, list[str]] = {
            "text": slots_in(template, template.text),
            "html": slots_in(template, template.html),
            "header": slots_in(template, *template.headers.values()),
        }
        fields = [
            ("from", template.from_header),
            ("subject", template.subject),
            ("text", slotted(template, template.text, _placeholder("text"))),
            ("html", slotted(template, template.html, _placeholder("html"))),
            ("h:Message-Id", f"%recipient.{MESSAGE_ID}%"),
            *(
                (f"h:{name}", slotted(template, value, _placeholder("header")))
                for name, value in template.headers.items()
            ),
            *(("to", values(message)[1]["to"]) for message in batch),
            (
                "recipient-variables",
                json.dumps({message.recipients[0]: _variables(message, used) for message in batch}),
            ),
        ]
        return Call(self.path, data=fields)

    def outcomes(
        self, batch: Sequence[OutgoingMessage], response: requests.Response
    ) -> list[Outcome]:
        return [Accepted(str(response.json()["id"]))] * len(batch)


def _placeholder(context: Context) -> Callable[[str], str]:
    return lambda slot: f"%recipient.{context}_{slot}%"


def _variables(message: OutgoingMessage, used: dict[Context, list[str]]) -> dict[str, str]:
    _, known = values(message)
    return {
        MESSAGE_ID: message.message_id,
        **{
            f"{context}_{slot}": escaped(known[slot], context)
            for context, slots in used.items()
            for slot in slots
        },
    }

"""Postmark: POST /email/batch, up to 500 whole messages a request, each answered in turn.

Newsletters go on the "broadcast" message stream: Postmark keeps bulk mail apart from
transactional mail so that the latter's reputation does not suffer.
"""

from __future__ import annotations

from collections.abc import Sequence

import requests

from pipeline.delivery.api import Accepted, Call, Outcome, Refused, json_messages
from pipeline.delivery.parts import Parts
from pipeline.mail.template import OutgoingMessage

# Per-message codes an admin can clear (token, maintenance, credits, account approval,
# rate), after which the same message can go; any other code refuses this message.
TRANSIENT_CODES = frozenset({10, 100, 405, 412, 413, 429})
STREAM = "broadcast"


class Postmark:
    name = "Postmark"
    url = "https://api.postmarkapp.com"
    batch_size = 500
    per_template = False

    def __init__(self, api_key: str) -> None:
        self.headers = {"X-Postmark-Server-Token": api_key}

    def call(self, batch: Sequence[OutgoingMessage]) -> Call:
        return Call("/email/batch", body=json_messages(batch, _message))

    def outcomes(
        self, batch: Sequence[OutgoingMessage], response: requests.Response
    ) -> list[Outcome]:
        return [_outcome(answer) for answer in response.json()]


def _message(parts: Parts) -> dict[str, object]:
    return {
        "From": parts.sender,
        "To": parts.to,
        "Subject": parts.subject,
        "HtmlBody": parts.html,
        "TextBody": parts.text,
        "Headers": [{"Name": name, "Value": value} for name, value in parts.headers.items()],
        "MessageStream": STREAM,
    }


def _outcome(answer: dict[str, object]) -> Outcome:
    code = answer["ErrorCode"]
    if code == 0:
        return Accepted(str(answer["MessageID"]))
    return Refused(f"{code} {answer.get('Message', '')}", permanent=code not in TRANSIENT_CODES)

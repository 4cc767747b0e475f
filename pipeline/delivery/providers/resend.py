"""Resend: POST /emails/batch, up to 100 whole messages a request.

Permissive batch validation lets the valid messages go when one is refused (the answer then
lists the refused ones by index). The Idempotency-Key is derived from the recipients' keys
(the outbox rows), so a batch sent again after a crash, with the same payload, is not
mailed twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import requests

from pipeline.delivery.api import Accepted, Call, Outcome, Refused, json_messages
from pipeline.delivery.parts import Parts
from pipeline.mail.template import OutgoingMessage


class Resend:
    name = "Resend"
    url = "https://api.resend.com"
    batch_size = 100
    per_template = False

    def __init__(self, api_key: str) -> None:
        self.headers = {"Authorization": f"Bearer {api_key}"}

    def call(self, batch: Sequence[OutgoingMessage]) -> Call:
        headers = {"Idempotency-Key": idempotency_key(batch), "x-batch-validation": "permissive"}
        return Call("/emails/batch", body=json_messages(batch, _email), headers=headers)

    def outcomes(
        self, batch: Sequence[OutgoingMessage], response: requests.Response
    ) -> list[Outcome]:
        body = response.json()
        refused = {int(error["index"]): str(error["message"]) for error in body.get("errors") or ()}
        ids = [str(item["id"]) for item in body["data"]]
        if len(ids) + len(refused) != len(batch):
            raise ValueError(f"{len(ids)} ids and {len(refused)} errors for {len(batch)} emails")
        ids.reverse()
        return [
            Refused(refused[index], permanent=True) if index in refused else Accepted(ids.pop())
            for index in range(len(batch))
        ]


def _email(parts: Parts) -> dict[str, object]:
    return {
        "from": parts.sender,
        "to": [parts.to],
        "subject": parts.subject,
        "html": parts.html,
        "text": parts.text,
        "headers": dict(parts.headers),
    }


def idempotency_key(batch: Sequence[OutgoingMessage]) -> str:
    """The same for the same recipients (outbox rows) in the same order, whatever else."""
    keys = "\n".join(message.recipient.key if message.recipient else "" for message in batch)
    return f"newsletter-batch/{hashlib.sha256(keys.encode()).hexdigest()}"

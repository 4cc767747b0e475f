"""Resend: POST /emails/batch, up to 100 whole messages a request; its webhook (Svix):
HMAC-SHA256 of `id.timestamp.body` with the `whsec_` secret.

Permissive batch validation lets the valid messages go when one is refused (the answer then
lists the refused ones by index). The Idempotency-Key is derived from the recipients' keys
(the outbox rows), so a batch sent again after a crash, with the same payload, is not
mailed twice.

A webhook call's timestamp must be within five minutes and each `svix-id` counts once: Svix
sends the same id again when it retries, so a repeat is ignored rather than counted twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import requests

from pipeline.delivery.api import Accepted, Call, Outcome, Refused, json_messages
from pipeline.delivery.feedback import (
    Feedback,
    Kind,
    NotGenuine,
    Report,
    b64decode,
    feedback,
    fresh,
    json_object,
    load_json,
)
from pipeline.delivery.parts import Parts
from pipeline.delivery.providers.base import EmailApi
from pipeline.mail.template import OutgoingMessage
from pipeline.settings import ENV_PREFIX, Settings


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

    def error(self, body: dict[str, Any]) -> str:
        return str(body.get("message") or "")


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


SECRET = f"{ENV_PREFIX}RESEND_WEBHOOK_SECRET"
VARIABLES = (SECRET,)
MIN_KEY_BYTES = 16


class ResendHook:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def admit(self, headers: Mapping[str, str], now: datetime) -> None:
        if not headers.get("svix-id") or not headers.get("svix-signature"):
            raise NotGenuine("not signed")
        fresh(headers.get("svix-timestamp"), now)

    def open(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Report:
        message_id, timestamp = headers.get("svix-id", ""), headers.get("svix-timestamp", "")
        signed = f"{message_id}.{timestamp}.".encode() + body
        expected = base64.b64encode(hmac.new(self._key, signed, hashlib.sha256).digest())
        if not any(
            version == "v1" and hmac.compare_digest(signature.encode(), expected)
            for version, _, signature in (
                entry.partition(",") for entry in headers.get("svix-signature", "").split()
            )
        ):
            raise NotGenuine("signature does not match")
        return Report(read(load_json(body), once=message_id))


def hook(settings: Settings) -> ResendHook | None:
    """The webhook for these settings; None without a secret, ValueError for a bad one."""
    if settings.resend_webhook_secret is None:
        return None
    key = b64decode(
        settings.resend_webhook_secret.get_secret_value().strip().removeprefix("whsec_")
    )
    if key is None or len(key) < MIN_KEY_BYTES:
        raise ValueError(f"{SECRET}: not Resend's whsec_… signing secret")
    return ResendHook(key)


def read(payload: Any, once: str | None = None) -> list[Feedback]:
    """`email.bounced` (hard unless its bounce type is "Transient") or `email.complained`,
    for each address in `data.to`."""
    event = json_object(payload)
    data = json_object(event.get("data"))
    match event.get("type"):
        case "email.bounced":
            transient = json_object(data.get("bounce") or {}).get("type") == "Transient"
            kind: Kind | None = "soft" if transient else "hard"
        case "email.complained":
            kind = "complaint"
        case _:
            kind = None
    to = data.get("to")
    addresses = to if isinstance(to, list) else [to]
    return [found for address in addresses for found in feedback(kind, address, once)]


API = EmailApi(
    lambda key, _: Resend(key),
    hook,
    VARIABLES,
    signing_secrets=lambda settings: {SECRET: settings.resend_webhook_secret},
)

"""Resend's webhook (Svix): HMAC-SHA256 of `id.timestamp.body` with the `whsec_` secret.

The timestamp must be within five minutes and each `svix-id` counts once: Svix sends the
same id again when it retries, so a repeat is ignored rather than counted twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pipeline.delivery.feedback.base import (
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
from pipeline.settings import ENV_PREFIX, Settings

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

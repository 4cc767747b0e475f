"""Mailgun's webhook: HMAC-SHA256 of `timestamp + token` with the webhook signing key.

Mailgun signs only the timestamp and a random token, not the event, so a signature could
be lifted onto other event data: the timestamp must be within five minutes and each token
is spent by its first call (remembered in the database, so every process sees it).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pipeline.delivery.feedback.base import (
    BadEvent,
    Feedback,
    Kind,
    NotGenuine,
    Report,
    feedback,
    fresh,
    json_object,
    load_json,
)
from pipeline.settings import ENV_PREFIX, Settings

KEY = f"{ENV_PREFIX}MAILGUN_WEBHOOK_SIGNING_KEY"
VARIABLES = (KEY,)
MIN_KEY = 16


class MailgunHook:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def admit(self, headers: Mapping[str, str], now: datetime) -> None:
        """Nothing to check yet: Mailgun signs inside the body."""

    def open(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Report:
        try:
            payload = json_object(load_json(body))
            signed = json_object(payload.get("signature"))
        except BadEvent:
            raise NotGenuine("not signed") from None
        timestamp, token, signature = (signed.get(k) for k in ("timestamp", "token", "signature"))
        if not all(isinstance(part, str) and part for part in (timestamp, token, signature)):
            raise NotGenuine("not signed")
        expected = hmac.new(self._key, f"{timestamp}{token}".encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest().encode(), str(signature).encode()):
            raise NotGenuine("signature does not match")
        fresh(timestamp, now)
        return Report(read(payload), seal=str(token))


def hook(settings: Settings) -> MailgunHook | None:
    """The webhook for these settings; None without a key, ValueError for a short one."""
    if settings.mailgun_webhook_signing_key is None:
        return None
    key = settings.mailgun_webhook_signing_key.get_secret_value().strip()
    if len(key) < MIN_KEY:
        raise ValueError(f"{KEY}: needs at least {MIN_KEY} characters (Mailgun's signing key)")
    return MailgunHook(key.encode())


def read(payload: Any) -> list[Feedback]:
    """One `event-data` a call: `failed` (permanent, or "old": given up after retrying) or
    `complained`."""
    event = json_object(json_object(payload).get("event-data"))
    match event.get("event"), event.get("severity"), event.get("reason"):
        case "complained", _, _:
            kind: Kind | None = "complaint"
        case "failed", "permanent", "old":
            kind = "soft"
        case "failed", "permanent", _:
            kind = "hard"
        case _:
            kind = None
    return list(feedback(kind, event.get("recipient")))

"""SendGrid's signed event webhook: ECDSA P-256 / SHA-256 over `timestamp + body`.

The setting is SendGrid's *public* verification key: it is used for nothing but checking
ECDSA signatures (never as an HMAC key: anyone may know it). The signed timestamp must be
within five minutes, and each event's `sg_event_id` counts once, so a captured batch
cannot be replayed; an event without one (SendGrid always sends it) is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from pipeline.delivery.feedback.base import (
    BadEvent,
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

KEY = f"{ENV_PREFIX}SENDGRID_WEBHOOK_PUBLIC_KEY"
VARIABLES = (KEY,)
SIGNATURE = "x-twilio-email-event-webhook-signature"
TIMESTAMP = "x-twilio-email-event-webhook-timestamp"


class SendGridHook:
    def __init__(self, key: ec.EllipticCurvePublicKey) -> None:
        self._key = key

    def admit(self, headers: Mapping[str, str], now: datetime) -> None:
        if not headers.get(SIGNATURE):
            raise NotGenuine("not signed")
        fresh(headers.get(TIMESTAMP), now)

    def open(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Report:
        signature = b64decode(headers.get(SIGNATURE, ""))
        signed = headers.get(TIMESTAMP, "").encode() + body
        try:
            self._key.verify(signature or b"", signed, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise NotGenuine("signature does not match") from None
        return Report(read(load_json(body)))


def hook(settings: Settings) -> SendGridHook | None:
    """The webhook for these settings; None without a key, ValueError for a bad one."""
    text = settings.sendgrid_webhook_public_key
    if text is None:
        return None
    der = b64decode(text.strip())
    try:
        key = load_der_public_key(der or b"")
    except (ValueError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError(f"{KEY}: not SendGrid's base64 ECDSA P-256 public key")
    return SendGridHook(key)


def read(payload: Any) -> list[Feedback]:
    """A list of events: `bounce` (its `type` is "bounce", or "blocked" for a soft one) and
    `spamreport`, each counted once by its `sg_event_id`."""
    if not isinstance(payload, list):
        raise BadEvent("a SendGrid event webhook posts a JSON array")
    found: list[Feedback] = []
    for event in map(json_object, payload):
        match event.get("event"):
            case "bounce":
                kind: Kind | None = "soft" if event.get("type") == "blocked" else "hard"
            case "spamreport":
                kind = "complaint"
            case _:
                kind = None
        once = event.get("sg_event_id")
        if isinstance(once, str) and once:
            found += feedback(kind, event.get("email"), once)
    return found

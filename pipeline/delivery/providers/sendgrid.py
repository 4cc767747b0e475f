"""SendGrid: POST /v3/mail/send, one template's parts for up to 1,000 personalizations; its
signed event webhook: ECDSA P-256 / SHA-256 over `timestamp + body`.

SendGrid substitutes each personalization's values into every part alike, so the HTML part
gets keys of its own (`%%html:name%%`) with escaped values, while the text keeps ours
(`%%name%%`). It does not substitute in headers, so each personalization carries its own,
filled. A 202 accepts the whole request and names it in `X-Message-Id`.

The webhook's setting is SendGrid's *public* verification key: it is used for nothing but
checking ECDSA signatures (never as an HMAC key: anyone may know it). The signed timestamp
must be within five minutes, and each event's `sg_event_id` counts once, so a captured
batch cannot be replayed; an event without one (SendGrid always sends it) is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from email.header import decode_header, make_header
from email.utils import parseaddr
from typing import Any

import requests
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from pipeline.delivery.api import Accepted, Call, Outcome
from pipeline.delivery.feedback import (
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
from pipeline.delivery.parts import escaped, headers, slots_in, slotted, values
from pipeline.delivery.providers.base import EmailApi
from pipeline.mail.template import MessageTemplate, OutgoingMessage
from pipeline.settings import ENV_PREFIX, Settings


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

    def error(self, body: dict[str, Any]) -> str:
        """{"errors": [{"message": …, "field": …}, …]}"""
        errors = body.get("errors")
        if not isinstance(errors, list):
            return ""
        return "; ".join(str(e.get("message", e)) for e in errors if isinstance(e, dict))


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


def _public(settings: Settings) -> Mapping[str, str]:
    return {settings.sendgrid_webhook_public_key or "": "SendGrid's public key"}


API = EmailApi(lambda key, _: SendGrid(key), hook, VARIABLES, public=_public)

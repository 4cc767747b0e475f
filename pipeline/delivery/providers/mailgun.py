"""Mailgun: POST /v3/DOMAIN/messages, one template to up to 1,000 recipients; its webhook:
HMAC-SHA256 of `timestamp + token` with the webhook signing key.

Each recipient is a `to` of its own and has an entry in `recipient-variables`: with those,
Mailgun sends a separate message per recipient, so no one sees another's address. Every
slot becomes `%recipient.<context>_<slot>%`, with the value escaped for its context; the
prefix keeps an HTML value from ever standing in for a plain one of the same slot.

Mailgun signs only the timestamp and a random token, not the event, so a signature could
be lifted onto other event data: the timestamp must be within five minutes and each token
is spent by its first call (remembered in the database, so every process sees it).
Its inbound route, which posts unsubscribe mails (pipeline/delivery/inbound.py), is signed
the same way, with the same key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests

from pipeline.delivery.api import Accepted, Call, Outcome
from pipeline.delivery.base import DeliveryConfigError
from pipeline.delivery.feedback import (
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
from pipeline.delivery.parts import escaped, slots_in, slotted, values
from pipeline.delivery.providers.base import EmailApi
from pipeline.mail.template import Context, OutgoingMessage
from pipeline.settings import ENV_PREFIX, Settings

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

    def error(self, body: dict[str, Any]) -> str:
        return str(body.get("message") or "")


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
        return Report(read(payload), seal=signed_token(signed, self._key, now))


class MailgunInbound:
    """Mailgun's inbound route (a route's `forward()` posting the parsed mail as a form),
    signed like its event webhooks."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def verify(self, fields: Mapping[str, str], now: datetime) -> str:
        return signed_token(fields, self._key, now)


def signed_token(signed: Mapping[str, object], key: bytes, now: datetime) -> str:
    """The `token` of a call whose `signature` is the HMAC-SHA256 of `timestamp + token` and
    whose `timestamp` is fresh; NotGenuine otherwise."""
    timestamp, token, signature = (signed.get(k) for k in ("timestamp", "token", "signature"))
    if not (
        isinstance(timestamp, str)
        and isinstance(token, str)
        and isinstance(signature, str)
        and timestamp
        and token
        and signature
    ):
        raise NotGenuine("not signed")
    expected = hmac.new(key, f"{timestamp}{token}".encode(), hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest().encode(), signature.encode()):
        raise NotGenuine("signature does not match")
    fresh(timestamp, now)
    return token


def hook(settings: Settings) -> MailgunHook | None:
    """The webhook for these settings; None without a key, ValueError for a short one."""
    if settings.mailgun_webhook_signing_key is None:
        return None
    key = settings.mailgun_webhook_signing_key.get_secret_value().strip()
    if len(key) < MIN_KEY:
        raise ValueError(f"{KEY}: needs at least {MIN_KEY} characters (Mailgun's signing key)")
    return MailgunHook(key.encode())


def inbound(settings: Settings) -> MailgunInbound | None:
    """The inbound route for these settings; None without a signing key of MIN_KEY
    characters."""
    secret = settings.mailgun_webhook_signing_key
    key = secret.get_secret_value().strip() if secret is not None else ""
    return MailgunInbound(key.encode()) if len(key) >= MIN_KEY else None


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


def sender(key: str, settings: Settings) -> Mailgun:
    """Mailgun sends for one domain, which has a setting of its own."""
    if not settings.mailgun_domain:
        raise DeliveryConfigError(
            f"{ENV_PREFIX}MAILGUN_DOMAIN: needed for {ENV_PREFIX}EMAIL_BACKEND=mailgun"
        )
    return Mailgun(key, settings.mailgun_domain)


API = EmailApi(
    sender,
    hook,
    VARIABLES,
    signing_secrets=lambda settings: {KEY: settings.mailgun_webhook_signing_key},
    inbound=inbound,
)

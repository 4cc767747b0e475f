"""Postmark: POST /email/batch, up to 500 whole messages a request, each answered in turn;
its webhook: HTTP Basic auth, then one Bounce or SpamComplaint record a call.

Newsletters go on the "broadcast" message stream: Postmark keeps bulk mail apart from
transactional mail so that the latter's reputation does not suffer.

Postmark signs nothing: the user and password put into the webhook URL (sent over HTTPS)
are the only proof, so they are checked before the body is read, in constant time, and the
password must be a real one. Replays cannot be told apart; they need the password too.
"""

from __future__ import annotations

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
    json_object,
    load_json,
)
from pipeline.delivery.parts import Parts
from pipeline.delivery.providers.base import EmailApi
from pipeline.mail.template import OutgoingMessage
from pipeline.settings import ENV_PREFIX, Settings

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

    def error(self, body: dict[str, Any]) -> str:
        return str(body.get("Message") or "")


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


USER = f"{ENV_PREFIX}POSTMARK_WEBHOOK_USER"
PASSWORD = f"{ENV_PREFIX}POSTMARK_WEBHOOK_PASSWORD"
VARIABLES = (USER, PASSWORD)
MIN_PASSWORD = 12

_BOUNCES: Mapping[str, Kind] = {
    "HardBounce": "hard",
    "BadEmailAddress": "hard",
    "SoftBounce": "soft",
    "Transient": "soft",
    "DnsError": "soft",
}


class PostmarkHook:
    def __init__(self, user: str, password: str) -> None:
        self._credentials = f"{user}:{password}".encode()

    def admit(self, headers: Mapping[str, str], now: datetime) -> None:
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        given = b64decode(credentials.strip()) if scheme.lower() == "basic" else None
        if given is None or not hmac.compare_digest(given, self._credentials):
            raise NotGenuine("wrong or no credentials")

    def open(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Report:
        return Report(read(load_json(body)))


def hook(settings: Settings) -> PostmarkHook | None:
    """The webhook for these settings; None if they name no credentials, ValueError if
    the credentials are unusable."""
    user, password = settings.postmark_webhook_user, settings.postmark_webhook_password
    if user is None and password is None:
        return None
    if user is None or password is None:
        raise ValueError(f"{USER} and {PASSWORD}: set both or neither")
    if ":" in user:
        raise ValueError(f"{USER}: cannot contain ':' (Basic auth splits there)")
    if len(password.get_secret_value()) < MIN_PASSWORD:
        raise ValueError(f"{PASSWORD}: needs at least {MIN_PASSWORD} characters")
    return PostmarkHook(user, password.get_secret_value())


def read(payload: Any) -> list[Feedback]:
    """A Bounce record (`Type` says which kind) or a SpamComplaint."""
    event = json_object(payload)
    if "SpamComplaint" in (event.get("RecordType"), event.get("Type")):
        kind: Kind | None = "complaint"
    elif event.get("RecordType") == "Bounce":
        kind = _BOUNCES.get(str(event.get("Type")))
    else:
        kind = None
    return list(feedback(kind, event.get("Email")))


API = EmailApi(lambda key, _: Postmark(key), hook, VARIABLES)

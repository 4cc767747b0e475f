"""Postmark's webhook: HTTP Basic auth, then one Bounce or SpamComplaint record a call.

Postmark signs nothing: the user and password put into the webhook URL (sent over HTTPS)
are the only proof, so they are checked before the body is read, in constant time, and the
password must be a real one. Replays cannot be told apart; they need the password too.
"""

from __future__ import annotations

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
    json_object,
    load_json,
)
from pipeline.settings import ENV_PREFIX, Settings

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

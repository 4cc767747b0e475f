"""Bounces and complaints from the email APIs' webhooks: what every provider's webhook
shares, the events it yields and how a call is refused.

A provider module (pipeline/delivery/providers/, one per email API) owns both halves of its
webhook: proving that a call is genuine, and reading the bounces and complaints out of it.
The web route only caps the body, asks the module, and hands the events to the subscriber
store. Each provider has settings of its own (no secret serves two providers), and a webhook
is on only when its settings are set.

Only what should change the list is kept: a hard bounce (the address cannot receive mail), a
soft one the provider has given up on (counted; HARD_BOUNCE_LIMIT of them suppress the
address) and a complaint. Deliveries, opens, deferrals and event types not known here are
ignored, so a provider adding events never breaks the webhook.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any, Literal, Protocol

Kind = Literal["hard", "soft", "complaint"]
# Signed timestamps further than this from now are refused, so a captured call is useless
# later; keys of calls seen (Mailgun tokens, SendGrid event ids) make it useless sooner.
TOLERANCE = timedelta(minutes=5)
# How long a call's key (token, event id) is remembered: longer than any provider goes on
# retrying one delivery, so a retry after a lost answer is not counted twice.
REMEMBER = timedelta(days=3)


class NotGenuine(Exception):
    """The call is not signed, or not by the provider (HTTP 401)."""


class BadEvent(ValueError):
    """The call is genuine but its body is not the provider's JSON (HTTP 400)."""


@dataclass(frozen=True)
class Feedback:
    """A bounce or complaint for `email`. `once` names the provider's delivery of it (a
    token or an event id): a second call with the same `once` is a replay."""

    email: str
    kind: Kind
    once: str | None = None


@dataclass(frozen=True)
class Report:
    """What a genuine call says. `seal` is a key of the call itself that must be new for
    any of it to count (Mailgun's token: its signature does not cover the events, so a call
    of no interest spends it too); it matters only while the call's timestamp is fresh."""

    events: list[Feedback]
    seal: str | None = None


class Hook(Protocol):
    """One provider's webhook, holding its secrets."""

    def admit(self, headers: Mapping[str, str], now: datetime) -> None:
        """Checks that need no body (credentials, signature headers, their age), before
        the body is read; raises NotGenuine."""

    def open(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Report:
        """The call's bounces and complaints; raises NotGenuine or BadEvent."""


class Inbound(Protocol):
    """One provider's inbound route (unsubscribe mails, see `pipeline.delivery.inbound`),
    holding its key."""

    def verify(self, fields: Mapping[str, str], now: datetime) -> str:
        """The call's one-time key (a replay repeats it); NotGenuine if not signed by it."""


def load_json(body: bytes) -> Any:
    """The body's JSON; BadEvent for anything else, nested too deep included."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # decode errors are ValueErrors
        raise BadEvent(f"not JSON: {' '.join(str(exc).split())[:200]}") from None


def fresh(timestamp: object, now: datetime) -> datetime:
    """The signed Unix `timestamp` as a time, or NotGenuine if it is not one within
    TOLERANCE of `now` (either side: clocks differ a little)."""
    try:
        moment = datetime.fromtimestamp(int(str(timestamp)), now.tzinfo)
    except (ValueError, OverflowError, OSError):
        raise NotGenuine("no usable timestamp") from None
    if abs(moment - now) > TOLERANCE:
        raise NotGenuine("timestamp too old or in the future")
    return moment


def b64decode(text: str) -> bytes | None:
    """Strict base64, or None."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadEvent("expected a JSON object")
    return value


def feedback(kind: Kind | None, address: Any, once: str | None = None) -> Iterator[Feedback]:
    """The event for `address` (a bare address or `Name <address>`), if it has a kind."""
    email = parseaddr(address)[1] if isinstance(address, str) else ""
    if kind is not None and email:
        yield Feedback(email, kind, once)

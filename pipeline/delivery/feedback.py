"""Bounces and complaints as each provider's webhook reports them, read into one shape.

Only what should change the list is kept: a hard bounce (the address cannot receive mail),
a soft one (counted; HARD_BOUNCE_LIMIT of them suppress the address) and a complaint (the
person marked a digest as spam). A soft bounce is one the provider has given up on: events
for a delivery it is still retrying (Mailgun's temporary failures, SendGrid's deferrals)
would count one greylisted message several times. Deliveries, opens and event types not
known here are ignored, so a provider adding events never breaks the webhook.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any, Literal

Kind = Literal["hard", "soft", "complaint"]

_POSTMARK_BOUNCES: Mapping[str, Kind] = {
    "HardBounce": "hard",
    "BadEmailAddress": "hard",
    "SoftBounce": "soft",
    "Transient": "soft",
    "DnsError": "soft",
}


@dataclass(frozen=True)
class Feedback:
    email: str
    kind: Kind


def read_postmark(payload: Any) -> list[Feedback]:
    """One event a call: a Bounce record (`Type` says which kind) or a SpamComplaint."""
    event = _object(payload)
    if "SpamComplaint" in (event.get("RecordType"), event.get("Type")):
        kind: Kind | None = "complaint"
    elif event.get("RecordType") == "Bounce":
        kind = _POSTMARK_BOUNCES.get(str(event.get("Type")))
    else:
        kind = None
    return list(_feedback(kind, event.get("Email")))


def read_sendgrid(payload: Any) -> list[Feedback]:
    """A list of events: `bounce` (its `type` is "bounce", or "blocked" for a soft one) and
    `spamreport`."""
    if not isinstance(payload, list):
        raise ValueError("a SendGrid event webhook posts a JSON array")
    found: list[Feedback] = []
    for event in map(_object, payload):
        match event.get("event"):
            case "bounce":
                kind: Kind | None = "soft" if event.get("type") == "blocked" else "hard"
            case "spamreport":
                kind = "complaint"
            case _:
                kind = None
        found += _feedback(kind, event.get("email"))
    return found


def read_mailgun(payload: Any) -> list[Feedback]:
    """One `event-data` a call: `failed` (permanent, or "old": given up after retrying) or
    `complained`."""
    event = _object(_object(payload).get("event-data"))
    match event.get("event"), event.get("severity"), event.get("reason"):
        case "complained", _, _:
            kind: Kind | None = "complaint"
        case "failed", "permanent", "old":
            kind = "soft"
        case "failed", "permanent", _:
            kind = "hard"
        case _:
            kind = None
    return list(_feedback(kind, event.get("recipient")))


def read_resend(payload: Any) -> list[Feedback]:
    """One event a call: `email.bounced` (hard unless its bounce type is "Transient") or
    `email.complained`, for each address in `data.to`."""
    event = _object(payload)
    data = _object(event.get("data"))
    match event.get("type"):
        case "email.bounced":
            transient = _object(data.get("bounce") or {}).get("type") == "Transient"
            kind: Kind | None = "soft" if transient else "hard"
        case "email.complained":
            kind = "complaint"
        case _:
            kind = None
    to = data.get("to")
    addresses = to if isinstance(to, list) else [to]
    return [found for address in addresses for found in _feedback(kind, address)]


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


def _feedback(kind: Kind | None, address: Any) -> Iterator[Feedback]:
    """The event for `address` (a bare address or `Name <address>`), if it has a kind."""
    email = parseaddr(address)[1] if isinstance(address, str) else ""
    if kind is not None and email:
        yield Feedback(email, kind)

"""Subscribers as JSON: what `subscribers list --json` prints and what a GDPR request gets."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from subscribers.models import Consent, Subscriber


def subscriber_json(subscriber: Subscriber) -> dict[str, Any]:
    """The fields DESIGN.md promises, plus topics and the subscription's dates."""
    return {
        "email": subscriber.email,
        "name": subscriber.name,
        "status": subscriber.status,
        "frequency": subscriber.frequency,
        "timezone": subscriber.timezone,
        "topics": list(subscriber.topics),
        "labels": list(subscriber.labels or ()),
        "created": _iso(subscriber.created),
        "confirmed_at": _iso(subscriber.confirmed_at),
        "unsubscribed_at": _iso(subscriber.unsubscribed_at),
    }


def personal_data_json(subscriber: Subscriber, consents: Iterable[Consent]) -> dict[str, Any]:
    """Everything stored about one person (GDPR access request)."""
    return {
        **subscriber_json(subscriber),
        "confirmation_sent_at": _iso(subscriber.confirmation_sent_at),
        "bounce_count": subscriber.bounce_count,
        "consents": [
            {
                "at": _iso(consent.at),
                "action": consent.action,
                "method": consent.method,
                "ip": consent.ip,
                "user_agent": consent.user_agent,
            }
            for consent in consents
        ],
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()

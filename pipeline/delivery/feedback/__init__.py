"""Bounces and complaints from the email APIs' webhooks: one module per provider, and
the types they share (the registry is pipeline/delivery/providers/).

Each provider has settings of its own (no secret serves two providers), and a webhook is on
only when its settings are set. Only what should change the list is kept: a hard bounce
(the address cannot receive mail), a soft one the provider has given up on (counted;
HARD_BOUNCE_LIMIT of them suppress the address) and a complaint. Deliveries, opens,
deferrals and event types not known here are ignored, so a provider adding events never
breaks the webhook.
"""

from __future__ import annotations

from datetime import timedelta

from pipeline.delivery.feedback.base import (
    TOLERANCE,
    BadEvent,
    Feedback,
    Hook,
    Kind,
    NotGenuine,
    Report,
)

__all__ = [
    "REMEMBER",
    "TOLERANCE",
    "BadEvent",
    "Feedback",
    "Hook",
    "Kind",
    "NotGenuine",
    "Report",
]

# How long a call's key (token, event id) is remembered: longer than any provider goes on
# retrying one delivery, so a retry after a lost answer is not counted twice.
REMEMBER = timedelta(days=3)

"""Bounces and complaints from the email APIs' webhooks: one module per provider, and the
registry the web route reads.

Each provider has settings of its own (no secret serves two providers), and a webhook is on
only when its settings are set. Only what should change the list is kept: a hard bounce
(the address cannot receive mail), a soft one the provider has given up on (counted;
HARD_BOUNCE_LIMIT of them suppress the address) and a complaint. Deliveries, opens,
deferrals and event types not known here are ignored, so a provider adding events never
breaks the webhook.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from pipeline.delivery.feedback import mailgun, postmark, resend, sendgrid
from pipeline.delivery.feedback.base import (
    TOLERANCE,
    BadEvent,
    Feedback,
    Hook,
    Kind,
    NotGenuine,
    Report,
)
from pipeline.settings import Settings

__all__ = [
    "PROVIDERS",
    "REMEMBER",
    "TOLERANCE",
    "BadEvent",
    "Feedback",
    "Hook",
    "Kind",
    "NotGenuine",
    "Report",
    "configured_hooks",
    "missing_webhook",
]

# How long a call's key (token, event id) is remembered: longer than any provider goes on
# retrying one delivery, so a retry after a lost answer is not counted twice.
REMEMBER = timedelta(days=3)


@dataclass(frozen=True)
class Provider:
    configure: Callable[[Settings], Hook | None]  # None: not set; ValueError: unusable
    variables: tuple[str, ...]


PROVIDERS: Mapping[str, Provider] = {
    "postmark": Provider(postmark.hook, postmark.VARIABLES),
    "sendgrid": Provider(sendgrid.hook, sendgrid.VARIABLES),
    "mailgun": Provider(mailgun.hook, mailgun.VARIABLES),
    "resend": Provider(resend.hook, resend.VARIABLES),
}


def configured_hooks(settings: Settings) -> dict[str, Hook]:
    """The webhooks these settings switch on, by provider; ValueError (naming the variable)
    for settings that cannot be used."""
    public = (settings.sendgrid_webhook_public_key or "").strip()
    for secret, variable in (
        (settings.mailgun_webhook_signing_key, mailgun.KEY),
        (settings.resend_webhook_secret, resend.SECRET),
    ):
        if public and secret is not None and public in secret.get_secret_value():
            raise ValueError(f"{variable}: is SendGrid's public key, which must never sign")
    return {
        name: hook
        for name, provider in PROVIDERS.items()
        if (hook := provider.configure(settings)) is not None
    }


def missing_webhook(settings: Settings) -> str | None:
    """What is missing for EMAIL_BACKEND's own webhook, if it is an email API's."""
    provider = PROVIDERS.get(settings.email_backend)
    if provider is None or provider.configure(settings) is not None:
        return None
    variables = " and ".join(provider.variables)
    return f"{variables}: not set, so {settings.email_backend}'s bounce webhook is off"

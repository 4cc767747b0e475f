"""The email APIs, one entry each: how to open its sender and its bounce webhook, and the
settings that switch the webhook on. `open_backend` and the webhook route both read this
registry, so a provider is added in one place (its sending and feedback modules aside)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pipeline.delivery.api import Provider
from pipeline.delivery.base import DeliveryConfigError
from pipeline.delivery.feedback import Hook
from pipeline.delivery.feedback import mailgun as mailgun_hook
from pipeline.delivery.feedback import postmark as postmark_hook
from pipeline.delivery.feedback import resend as resend_hook
from pipeline.delivery.feedback import sendgrid as sendgrid_hook
from pipeline.delivery.providers.mailgun import Mailgun
from pipeline.delivery.providers.postmark import Postmark
from pipeline.delivery.providers.resend import Resend
from pipeline.delivery.providers.sendgrid import SendGrid
from pipeline.settings import ENV_PREFIX, Settings


@dataclass(frozen=True)
class EmailApi:
    sender: Callable[[str, Settings], Provider]  # from the API key; DeliveryConfigError
    hook: Callable[[Settings], Hook | None]  # None: not set; ValueError: unusable
    variables: tuple[str, ...]  # what switches the webhook on


def _mailgun(key: str, settings: Settings) -> Mailgun:
    if not settings.mailgun_domain:
        raise DeliveryConfigError(
            f"{ENV_PREFIX}MAILGUN_DOMAIN: needed for {ENV_PREFIX}EMAIL_BACKEND=mailgun"
        )
    return Mailgun(key, settings.mailgun_domain)


EMAIL_APIS: Mapping[str, EmailApi] = {
    "postmark": EmailApi(lambda key, _: Postmark(key), postmark_hook.hook, postmark_hook.VARIABLES),
    "sendgrid": EmailApi(lambda key, _: SendGrid(key), sendgrid_hook.hook, sendgrid_hook.VARIABLES),
    "mailgun": EmailApi(_mailgun, mailgun_hook.hook, mailgun_hook.VARIABLES),
    "resend": EmailApi(lambda key, _: Resend(key), resend_hook.hook, resend_hook.VARIABLES),
}


def open_provider(settings: Settings) -> Provider:
    """The email API EMAIL_BACKEND names, or DeliveryConfigError naming what is missing."""
    name = settings.email_backend
    if settings.api_key is None:
        raise DeliveryConfigError(
            f"{ENV_PREFIX}API_KEY: needed for {ENV_PREFIX}EMAIL_BACKEND={name}"
        )
    return EMAIL_APIS[name].sender(settings.api_key.get_secret_value(), settings)


def configured_hooks(settings: Settings) -> dict[str, Hook]:
    """The webhooks these settings switch on, by provider; ValueError (naming the variable)
    for settings that cannot be used."""
    public = (settings.sendgrid_webhook_public_key or "").strip()
    for secret, variable in (
        (settings.mailgun_webhook_signing_key, mailgun_hook.KEY),
        (settings.resend_webhook_secret, resend_hook.SECRET),
    ):
        if public and secret is not None and public in secret.get_secret_value():
            raise ValueError(f"{variable}: is SendGrid's public key, which must never sign")
    return {
        name: hook for name, api in EMAIL_APIS.items() if (hook := api.hook(settings)) is not None
    }


def missing_webhook(settings: Settings) -> str | None:
    """What is missing for EMAIL_BACKEND's own webhook, if it is an email API's."""
    api = EMAIL_APIS.get(settings.email_backend)
    if api is None or api.hook(settings) is not None:
        return None
    variables = " and ".join(api.variables)
    return f"{variables}: not set, so {settings.email_backend}'s bounce webhook is off"

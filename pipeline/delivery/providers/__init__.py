"""The email APIs, one module each (its request, its outcomes, its webhook's verification
and its feedback parsing), and the registry of them that `open_backend`, the webhook route
and the inbound route read: a provider is added as a module that ends with its `API` entry,
plus its line in EMAIL_APIS (and its name in settings.EmailBackend).
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.delivery.api import Provider
from pipeline.delivery.base import DeliveryConfigError
from pipeline.delivery.feedback import Hook
from pipeline.delivery.providers import mailgun, postmark, resend, sendgrid
from pipeline.delivery.providers.base import EmailApi
from pipeline.settings import ENV_PREFIX, Settings

EMAIL_APIS: Mapping[str, EmailApi] = {
    "postmark": postmark.API,
    "sendgrid": sendgrid.API,
    "mailgun": mailgun.API,
    "resend": resend.API,
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
    public = {
        value.strip(): what
        for api in EMAIL_APIS.values()
        for value, what in api.public(settings).items()
        if value.strip()
    }
    for api in EMAIL_APIS.values():
        for variable, secret in api.signing_secrets(settings).items():
            held = secret.get_secret_value() if secret is not None else ""
            for value, what in public.items():
                if value in held:
                    raise ValueError(f"{variable}: is {what}, which must never sign")
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

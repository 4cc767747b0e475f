"""What each provider module exposes as its entry in the registry (EMAIL_APIS)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from pipeline.delivery.api import Provider
from pipeline.delivery.feedback import Hook, Inbound
from pipeline.settings import Settings


def _no_secrets(_settings: Settings) -> Mapping[str, SecretStr | None]:
    return {}


def _nothing_public(_settings: Settings) -> Mapping[str, str]:
    return {}


@dataclass(frozen=True)
class EmailApi:
    sender: Callable[[str, Settings], Provider]  # from the API key; DeliveryConfigError
    hook: Callable[[Settings], Hook | None]  # None: not set; ValueError: unusable
    variables: tuple[str, ...]  # what switches the webhook on
    # The secrets its calls are signed with (HMAC), by variable: none may hold a value
    # that any provider's `public` names.
    signing_secrets: Callable[[Settings], Mapping[str, SecretStr | None]] = _no_secrets
    # Set values anyone may read, which must never sign: value -> what it is ("X's public
    # key").
    public: Callable[[Settings], Mapping[str, str]] = _nothing_public
    # Its inbound route for unsubscribe mails (None: it has none); the route gives None
    # while its key is not set.
    inbound: Callable[[Settings], Inbound | None] | None = None

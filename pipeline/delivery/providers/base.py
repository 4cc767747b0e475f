"""What each provider module exposes as its entry in the registry (EMAIL_APIS)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipeline.delivery.api import Provider
from pipeline.delivery.feedback import Hook
from pipeline.settings import Settings


@dataclass(frozen=True)
class EmailApi:
    sender: Callable[[str, Settings], Provider]  # from the API key; DeliveryConfigError
    hook: Callable[[Settings], Hook | None]  # None: not set; ValueError: unusable
    variables: tuple[str, ...]  # what switches the webhook on

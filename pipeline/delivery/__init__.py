"""Delivery backends: one small interface (`Backend`), picked by EMAIL_BACKEND."""

from __future__ import annotations

import sys

from pipeline.delivery.api import APIBackend
from pipeline.delivery.base import Backend, DeliveryConfigError, Finished, SendResult
from pipeline.delivery.console import ConsoleBackend
from pipeline.delivery.file import FileBackend
from pipeline.delivery.http import RetryPolicy
from pipeline.delivery.pool import SMTPPool
from pipeline.delivery.providers import open_provider
from pipeline.delivery.ratelimit import TokenBucket
from pipeline.delivery.smtp import SMTPBackend, smtp_connection
from pipeline.mail.dkim import dkim_signer
from pipeline.settings import Settings

__all__ = [
    "APIBackend",
    "Backend",
    "ConsoleBackend",
    "DeliveryConfigError",
    "FileBackend",
    "Finished",
    "RetryPolicy",
    "SMTPBackend",
    "SMTPPool",
    "SendResult",
    "TokenBucket",
    "check_delivery",
    "open_backend",
    "smtp_connection",
]


def check_delivery(settings: Settings) -> None:
    """Raise a one-line SettingsProblem if sending cannot work as configured (backend keys,
    the DKIM key), without connecting anywhere: before a run is created, and in `config
    check`."""
    open_backend(settings).close()
    dkim_signer(settings)


def open_backend(settings: Settings) -> Backend:
    """The backend EMAIL_BACKEND names, or DeliveryConfigError (a one-line SettingsProblem)."""
    match settings.email_backend:
        case "file":
            return FileBackend(settings.data_dir / "outbox")
        case "console":
            return ConsoleBackend(sys.stdout)
        case "smtp":
            connections = [smtp_connection(settings) for _ in range(settings.smtp_connections)]
            return SMTPPool(connections, TokenBucket(settings.send_rate))
        case _:
            return APIBackend(
                open_provider(settings),
                base_url=str(settings.api_base_url) if settings.api_base_url else None,
                timeout=settings.http_timeout,
                limiter=TokenBucket(settings.send_rate),
            )

"""Delivery backends: one small interface (`Backend`), picked by EMAIL_BACKEND."""

from __future__ import annotations

import sys

from pipeline.delivery.base import Backend, DeliveryConfigError, SendResult
from pipeline.delivery.console import ConsoleBackend
from pipeline.delivery.file import FileBackend
from pipeline.delivery.smtp import SMTPBackend
from pipeline.settings import ENV_PREFIX, Settings

__all__ = [
    "Backend",
    "ConsoleBackend",
    "DeliveryConfigError",
    "FileBackend",
    "SMTPBackend",
    "SendResult",
    "open_backend",
]


def open_backend(settings: Settings) -> Backend:
    """The backend EMAIL_BACKEND names, or DeliveryConfigError (a one-line SettingsProblem)."""
    match settings.email_backend:
        case "file":
            return FileBackend(settings.data_dir / "outbox")
        case "console":
            return ConsoleBackend(sys.stdout)
        case "smtp":
            password = settings.smtp_password
            if settings.smtp_username and not password:
                raise DeliveryConfigError(
                    f"{ENV_PREFIX}SMTP_PASSWORD: needed when {ENV_PREFIX}SMTP_USERNAME is set"
                )
            return SMTPBackend(
                host=settings.smtp_host,
                port=settings.smtp_port,
                security=settings.smtp_security,
                username=settings.smtp_username,
                password=password.get_secret_value() if password else None,
            )
        case name:
            raise DeliveryConfigError(f"{ENV_PREFIX}EMAIL_BACKEND={name} is not available yet")

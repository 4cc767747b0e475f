"""Test copies from the admin's digest and broadcast pages: one copy to one address, with
one account of why it did not go."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.delivery import DeliveryConfigError
from pipeline.delivery.single import send_one
from pipeline.mail.template import OutgoingMessage
from pipeline.settings import Settings
from subscribers import SubscriberError, normalise_email


class NotSent(Exception):
    """Why no test copy went ("Not sent: …"); `status` is the answer's."""

    def __init__(self, status: int, reason: object) -> None:
        super().__init__(f"Not sent: {reason}")
        self.status = status


BAD_ADDRESS = 422


def send_test_copy(settings: Settings, to: str, copy: Callable[[str], OutgoingMessage]) -> str:
    """Send `copy` of the address `to`, normalised; that address. NotSent if the address
    is not one (422), EMAIL_BACKEND cannot work (503) or the copy was refused (502)."""
    try:
        address = normalise_email(to)
        result = send_one(settings, copy(address))
    except SubscriberError as exc:
        raise NotSent(BAD_ADDRESS, exc) from None
    except DeliveryConfigError as exc:
        raise NotSent(503, exc) from None
    if not result.ok:
        raise NotSent(502, result.error)
    return address

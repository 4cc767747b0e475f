"""Mail that asks or greets one person: the double opt-in confirmation, to pending people
(at most once an hour per address, however they were added), and the welcome that
follows a confirmation.

Each is one message to one person, sent at once through the delivery backend rather
than through the digest outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import TypeVar

from pipeline.delivery.single import send_each
from pipeline.keys import signing_keys
from pipeline.mail import OutgoingMessage, confirmation_message
from pipeline.mail.welcome import welcome_message
from pipeline.settings import Settings, SettingsProblem
from subscribers import Subscriber, SubscriberStore, TokenSigner

log = logging.getLogger(__name__)
T = TypeVar("T")
CLAIM_BATCH = 500


@dataclass
class Invited:
    """What an invitation round did: mailed, held back (asked within the hour), failed."""

    sent: int = 0
    held: int = 0
    failed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.sent} confirmation mails sent, {self.held} held back "
            f"(asked within the hour), {len(self.failed)} failed"
        )


def invite(
    settings: Settings,
    store: SubscriberStore,
    subscriber_ids: Iterable[int] | None = None,
    *,
    now: datetime | None = None,
) -> Invited:
    """Mail the confirmation link to these pending subscribers (None: every pending one)
    that were not asked within the hour."""
    if subscriber_ids is None:
        subscriber_ids = (subscriber.id for subscriber in store.iter_all(status="pending"))
    else:
        subscriber_ids = dict.fromkeys(subscriber_ids)  # once each, in order
    signer = TokenSigner(signing_keys(settings))
    invited = Invited()
    for ids in _batched(subscriber_ids, CLAIM_BATCH):
        claimed = store.claim_confirmations(ids, now=now)
        invited.held += len(ids) - len(claimed)
        failures = send_confirmations(settings, signer, claimed)
        invited.sent += len(claimed) - len(failures)
        invited.failed += failures
    return invited


def send_confirmations(
    settings: Settings, signer: TokenSigner, subscribers: Sequence[Subscriber]
) -> list[str]:
    """Mail each one the confirmation link; "address: reason" for each that failed."""
    messages: list[OutgoingMessage] = []
    failures: list[str] = []
    for subscriber in subscribers:
        confirm_url = f"{settings.base_url}/confirm/{signer.confirm_token(subscriber)}"
        try:
            messages.append(
                confirmation_message(settings, to_email=subscriber.email, confirm_url=confirm_url)
            )
        except ValueError as exc:  # e.g. an address SMTP cannot carry
            failures.append(f"{subscriber.email}: {exc}")
    return failures + _send(settings, messages)


def send_welcome(settings: Settings, signer: TokenSigner, subscriber: Subscriber) -> None:
    """Mail the welcome to someone who has just confirmed. A failure is only logged: the
    person is subscribed either way."""
    token = signer.manage_token(subscriber)
    try:
        message = welcome_message(
            settings,
            subscriber,
            preferences_url=f"{settings.base_url}/preferences/{token}",
            unsubscribe_url=f"{settings.base_url}/unsubscribe/{token}",
        )
    except ValueError as exc:
        log.warning("welcome to subscriber %s not sent: %s", subscriber.id, exc)
        return
    for failure in _send(settings, [message]):
        log.warning("welcome to subscriber %s not sent: %s", subscriber.id, failure)


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of `size` (the last may be shorter); itertools.batched is 3.12+."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _send(settings: Settings, messages: Sequence[OutgoingMessage]) -> list[str]:
    """Send as `send_each` does; "address: reason" for each failure."""
    try:
        results = send_each(settings, messages)
    except SettingsProblem as exc:  # EMAIL_BACKEND or the DKIM key cannot work
        return [f"{address}: {exc}" for message in messages for address in message.recipients]
    return [f"{result.recipient}: {result.error}" for result in results if not result.ok]

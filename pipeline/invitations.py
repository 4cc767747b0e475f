"""Mail that asks or greets one person: the double opt-in confirmation, to pending people
(at most once an hour per address, however they were added), and the welcome that
follows a confirmation.

A sign-up's confirmation and a welcome are one message to one person, sent at once
through the delivery backend; invitations for people added by an admin, the API or an
import go through the outbox (`pipeline.outbox.invitations`), however many they are.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pipeline.delivery.single import send_each
from pipeline.mail import OutgoingMessage, confirmation_message
from pipeline.mail.welcome import welcome_message
from pipeline.outbox.invitations import queue_invitations
from pipeline.settings import Settings, SettingsProblem
from pipeline.storage import Database
from pipeline.storage.models import DigestRun
from subscribers import Subscriber, SubscriberStore, TokenSigner
from subscribers.timestamps import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Invited:
    """An invitation round: how many were queued (in `run`), and held back (asked within
    the hour)."""

    queued: int = 0
    held: int = 0
    run: DigestRun | None = None

    def summary(self) -> str:
        return (
            f"{self.queued} confirmation mails queued, {self.held} held back "
            "(asked within the hour)"
        )


def invite(
    db: Database,
    store: SubscriberStore,
    subscriber_ids: Iterable[int] | None = None,
    *,
    now: datetime | None = None,
) -> Invited:
    """Queue the confirmation link for these pending subscribers (None: every pending one)
    that were not asked within the hour, as one outbox run the caller sends (`send_run`, or
    a sender in the background): a round of any size is queued in one transaction."""
    if subscriber_ids is None:
        subscriber_ids = [subscriber.id for subscriber in store.iter_all(status="pending")]
    queued = queue_invitations(db, subscriber_ids, now or utcnow())
    return Invited(queued.queued, queued.held, queued.run)


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


def _send(settings: Settings, messages: Sequence[OutgoingMessage]) -> list[str]:
    """Send as `send_each` does; "address: reason" for each failure."""
    try:
        results = send_each(settings, messages)
    except SettingsProblem as exc:  # EMAIL_BACKEND or the DKIM key cannot work
        return [f"{address}: {exc}" for message in messages for address in message.recipients]
    return [f"{result.recipient}: {result.error}" for result in results if not result.ok]

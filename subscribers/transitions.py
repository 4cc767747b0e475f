"""How a subscriber moves between states; every move a person makes leaves proof of consent."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from subscribers import bulk
from subscribers.addresses import email_hash, email_key
from subscribers.errors import SubscriberError, shown
from subscribers.models import IP_MAX, METHODS, USER_AGENT_MAX, Consent, Subscriber, Suppression
from subscribers.profile import Profile
from subscribers.text import clean_text

# The states in which a subscriber is on the list (pending ones get only the confirmation).
ACTIVE = ("pending", "confirmed")
# The states of someone who left: only their own sign-up brings them back.
LEFT = ("unsubscribed", "bounced", "complained")
_STATUS_FOR_REASON = {"bounce": "bounced", "complaint": "complained", "manual": "unsubscribed"}
# Why a suppressed address is kept out, as a person reads it.
WHY_SUPPRESSED = {
    "bounce": "bounced",
    "complaint": "complained",
    "erased": "erased",
    "manual": "unsubscribed",
}


@dataclass(frozen=True)
class Origin:
    """Where a change came from, as the consent record keeps it."""

    method: str
    ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def of(cls, method: str, ip: str | None = None, user_agent: str | None = None) -> Origin:
        """Checked and cleaned: an unparsable IP is dropped, a user agent made one line."""
        if method not in METHODS:
            raise SubscriberError(f"unknown consent method {shown(method)}")
        return cls(method, _clean_ip(ip), clean_text(user_agent, USER_AGENT_MAX) or None)


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def find(session: Session, email: str) -> Subscriber | None:
    """The subscriber with this normalised address, in any case."""
    return session.scalar(select(Subscriber).where(Subscriber.email_key == email_key(email)))


def record(
    session: Session, subscriber: Subscriber, action: str, origin: Origin, at: datetime
) -> None:
    session.add(
        Consent(
            subscriber=subscriber,
            at=at,
            action=action,
            method=origin.method,
            ip=origin.ip,
            user_agent=origin.user_agent,
        )
    )


def apply_profile(subscriber: Subscriber, profile: Profile) -> bool:
    """Set what `profile` gives; whether anything changed."""
    changed = False
    for field in ("name", "frequency", "timezone", "topics"):
        value = getattr(profile, field)
        if value is not None and getattr(subscriber, field) != value:
            setattr(subscriber, field, value)
            changed = True
    return changed


def confirm(session: Session, subscriber: Subscriber, origin: Origin, at: datetime) -> None:
    subscriber.status = "confirmed"
    subscriber.confirmed_at = at
    record(session, subscriber, "confirm", origin, at)


def resubscribe(session: Session, subscriber: Subscriber, origin: Origin, at: datetime) -> None:
    """Back on the list, pending, with a new nonce so links from before cannot undo this."""
    subscriber.status = "pending"
    subscriber.confirmed_at = None
    subscriber.unsubscribed_at = None
    subscriber.token_nonce = new_nonce()
    record(session, subscriber, "subscribe", origin, at)


def unsubscribe(
    session: Session,
    subscriber: Subscriber,
    origin: Origin,
    at: datetime,
    status: str = "unsubscribed",
) -> None:
    """Off the list as `status` (one of LEFT: an import may say how someone left)."""
    subscriber.status = status
    subscriber.unsubscribed_at = at
    record(session, subscriber, "unsubscribe", origin, at)


def delete_subscriber(session: Session, email: str) -> bool:
    """Delete the subscriber and its consent records; whether there was one."""
    subscriber_id = session.scalar(
        select(Subscriber.id).where(Subscriber.email_key == email_key(email))
    )
    if subscriber_id is None:
        return False
    session.execute(delete(Consent).where(Consent.subscriber_id == subscriber_id))
    session.execute(delete(Subscriber).where(Subscriber.id == subscriber_id))
    return True


def suppress(session: Session, email: str, reason: str, at: datetime) -> None:
    """Never add or mail `email` again, and take its subscriber off the list (erased: delete it).

    An existing suppression keeps its first reason: that is why the address went bad.
    """
    key = email_hash(email)
    if session.get(Suppression, key) is None:
        session.add(Suppression(email_hash=key, reason=reason, at=at))
    if reason == "erased":
        delete_subscriber(session, email)
    elif (subscriber := find(session, email)) is not None and subscriber.status in ACTIVE:
        subscriber.status = _STATUS_FOR_REASON[reason]
        if subscriber.status == "unsubscribed":
            subscriber.unsubscribed_at = at


def readmit(session: Session, email: str) -> None:
    """Lift the address's suppression: its owner has confirmed a new sign-up."""
    session.execute(delete(Suppression).where(Suppression.email_hash == email_hash(email)))


def is_suppressed(session: Session, email: str) -> bool:
    return session.get(Suppression, email_hash(email)) is not None


def suppression_reasons(session: Session, emails: Iterable[str]) -> dict[str, str]:
    """Hash -> reason, for those of `emails` that are suppressed."""
    hashes = {email_hash(email) for email in emails}
    query = select(Suppression.email_hash, Suppression.reason)
    rows = session.execute(bulk.where_in(session, query, Suppression.email_hash, hashes))
    return {key: reason for key, reason in rows}


def _clean_ip(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return str(ipaddress.ip_address(raw.strip()))[:IP_MAX]
    except ValueError:
        return None

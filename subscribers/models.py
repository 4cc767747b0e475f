"""The subscriber tables, on their own declarative base so `subscribers` needs no `pipeline`.

Migration 0002 of the pipeline creates them; keep the two in step.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from subscribers.profile import DEFAULT_FREQUENCY, FREQUENCIES
from subscribers.timestamps import UTCDateTime

STATUSES = ("pending", "confirmed", "unsubscribed", "bounced", "complained")
ACTIONS = ("subscribe", "confirm", "unsubscribe", "preferences")
METHODS = ("form", "import", "admin", "api", "cli", "link", "one-click")
REASONS = ("bounce", "complaint", "erased", "manual")
EMAIL_MAX = 320
NONCE_MAX = 32
IP_MAX = 45
USER_AGENT_MAX = 500


def one_of(column: str, values: tuple[str, ...]) -> str:
    """A CHECK constraint's text: the column holds one of `values`."""
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class Base(DeclarativeBase):
    """Declarative base for the subscriber tables."""

    # Each model maps one Table; SQLAlchemy types `__table__` as the wider FromClause.
    __table__: ClassVar[Table]


class Subscriber(Base):
    """A person on the list. `email` is kept as given; `email_key` makes it unique."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX))
    email_key: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16))
    frequency: Mapped[str] = mapped_column(String(16), default=DEFAULT_FREQUENCY)
    timezone: Mapped[str] = mapped_column(String(64))
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Tags from another tool that match none of the site's: kept and shown, never used to
    # choose posts (a topic no post has would send the person nothing).
    labels: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    confirmation_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    bounce_count: Mapped[int] = mapped_column(default=0)
    # Renewed at every (re)subscription: tokens carry it, so older links stop working.
    token_nonce: Mapped[str] = mapped_column(String(NONCE_MAX))

    __table_args__ = (
        CheckConstraint(one_of("status", STATUSES), name="ck_subscribers_status"),
        CheckConstraint(one_of("frequency", FREQUENCIES), name="ck_subscribers_frequency"),
        Index("ix_subscribers_status_frequency", "status", "frequency"),
    )


class Consent(Base):
    """Proof of consent: who agreed (or withdrew) to what, when, how and from where."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))
    ip: Mapped[str | None] = mapped_column(String(IP_MAX), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_MAX), nullable=True)

    subscriber: Mapped[Subscriber] = relationship()

    __table_args__ = (
        CheckConstraint(one_of("action", ACTIONS), name="ck_consents_action"),
        CheckConstraint(one_of("method", METHODS), name="ck_consents_method"),
    )


class Suppression(Base):
    """An address never to add or mail again, known only by its hash."""

    __tablename__ = "suppressions"

    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (CheckConstraint(one_of("reason", REASONS), name="ck_suppressions_reason"),)

"""The schema, as SQLAlchemy 2 declarative models; Alembic migrations mirror it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, ForeignKey, Index, String, Table, Text, UniqueConstraint, true
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from subscribers import Base as SubscriberBase
from subscribers.timestamps import UTCDateTime


class Base(DeclarativeBase):
    """Declarative base for the pipeline's tables.

    It shares the subscriber tables' MetaData, so the outbox can reference subscribers
    by foreign key and Alembic sees one schema.
    """

    metadata = SubscriberBase.metadata
    # Each model maps one Table; SQLAlchemy types `__table__` as the wider FromClause.
    __table__: ClassVar[Table]


def _published(context: DefaultExecutionContext) -> datetime:
    published: datetime = context.get_current_parameters()["published"]
    return published


class Post(Base):
    """A post as ingested: sanitised, identified by a GUID that never changes.

    `url` is absolute for posts from elsewhere and a path (`/posts/slug`) for the site's
    own, made absolute from SITE_URL when rendered. `news_at` is when the post counts as
    new for digests (None: never, e.g. an undated back-catalogue post); rows written
    without it count at their published date.
    """

    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    guid: Mapped[str] = mapped_column(String(1024), unique=True)
    source: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="published")
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(String(2048))
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    summary: Mapped[str] = mapped_column(Text, default="")
    content_html: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    published: Mapped[datetime] = mapped_column(UTCDateTime())
    updated: Mapped[datetime] = mapped_column(UTCDateTime())
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    dated: Mapped[bool] = mapped_column(default=True, server_default=true())
    news_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), nullable=True, default=_published
    )
    image: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    image_alt: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The version of the text rules (pipeline.post_text) the stored fields follow.
    text_rules: Mapped[int] = mapped_column(default=0, server_default="0")

    __table_args__ = (
        Index("ix_posts_status_published", "status", "published"),
        Index("ix_posts_status_news_at", "status", "news_at"),
        Index("ix_posts_source", "source"),
    )


class SourceState(Base):
    """What a source needs to read cheaply next time (ETag, cursor, file fingerprints)."""

    __tablename__ = "source_state"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_read: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DigestRun(Base):
    """One digest for one frequency and period (e.g. weekly, 2026-W47): never two.

    `cutoff` is when it was planned: posts published after it wait for the next run.
    Its life (`pipeline.outbox.status`): queued → sending → done or failed, paused and
    resumed, expired, cancelled. A run paused by a channel fault has `resume_at`, when the
    sweep probes it again; `faults` counts the probes in a row that failed.

    `kind` is `digest`, or `broadcast` for a one-off mail (its `intro` is the whole body,
    its `topic` the only subscribers it goes to). `subject` and `intro` (Markdown) are what
    an editor set for this run; stored with it, so a resumed run sends the same mail.
    """

    __tablename__ = "digest_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    frequency: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    cutoff: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    resume_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    faults: Mapped[int] = mapped_column(default=0, server_default="0")
    kind: Mapped[str] = mapped_column(String(16), default="digest", server_default="digest")
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)
    intro: Mapped[str | None] = mapped_column(Text, nullable=True)
    topic: Mapped[str | None] = mapped_column(String(200), nullable=True)

    __table_args__ = (UniqueConstraint("frequency", "period", name="uq_digest_runs_period"),)


class DigestSelection(Base):
    """A distinct list of posts within a run: rendered once for everyone who gets it."""

    __tablename__ = "digest_selections"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("digest_runs.id", ondelete="CASCADE"))
    post_ids: Mapped[list[int]] = mapped_column(JSON)


class ClickCount(Base):
    """How often a post's link was followed from one run's mails: an aggregate, never a
    record of who clicked."""

    __tablename__ = "click_counts"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("digest_runs.id", ondelete="CASCADE"), primary_key=True
    )
    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    clicks: Mapped[int] = mapped_column(default=0, server_default="0")


class ArchivedMail(Base):
    """The public copy of one run's mail (a digest, a per-post mail, a broadcast), shown at
    `/archive/{frequency}/{period}` once its first copy went out: the mail's HTML with every
    personal slot given a public value, so it holds no address, name or token."""

    __tablename__ = "mail_archive"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("digest_runs.id", ondelete="CASCADE"), unique=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # digest, post or broadcast
    frequency: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("frequency", "period", name="uq_mail_archive_period"),
        Index("ix_mail_archive_published_at", "published_at"),
    )


class OutboxItem(Base):
    """One recipient of one run: claimed before sending, marked after, so never sent twice.

    queued → sending (claimed: `claim` is the live sender's id) → sent | failed | skipped;
    a transient failure goes back to queued with `next_attempt_at` later.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("digest_runs.id", ondelete="CASCADE"))
    selection_id: Mapped[int] = mapped_column(
        ForeignKey("digest_selections.id", ondelete="CASCADE")
    )
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), nullable=True
    )
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    claim: Mapped[str | None] = mapped_column(String(32), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    provider_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        UniqueConstraint("run_id", "subscriber_id", name="uq_outbox_recipient"),
        Index("ix_outbox_run_status", "run_id", "status", "id"),
        Index("ix_outbox_claim", "claim"),
        Index("ix_outbox_subscriber_status", "subscriber_id", "status"),
    )


class Sender(Base):
    """A process sending digests: its claims are its own while its heartbeat is fresh, and
    anyone re-queues them once it stops (killed, or its machine gone)."""

    __tablename__ = "senders"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column()
    started: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat: Mapped[datetime] = mapped_column(UTCDateTime())


class SchedulerLease(Base):
    """Which `serve` process runs the scheduler: its holder renews it, anyone may take it
    once it expires (the holder died), so jobs fire in one process only."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebState(Base):
    """Small expiring records that every web process on the database must agree on: signed-out
    sessions, sign-in failures, rate-limit windows, used one-time tokens.

    One row per (`scope`, `key`); `data` is the scope's own JSON; a row past `expires_at`
    means nothing and is deleted by the next purge (see `pipeline.storage.webstate`).
    """

    __tablename__ = "web_state"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_web_state_expires_at", "expires_at"),)

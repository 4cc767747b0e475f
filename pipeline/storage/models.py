"""The schema, as SQLAlchemy 2 declarative models; Alembic migrations mirror it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from subscribers.timestamps import UTCDateTime


class Base(DeclarativeBase):
    """Declarative base for every table of the pipeline."""


class Post(Base):
    """A post as ingested: sanitised, identified by a GUID that never changes."""

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

    __table_args__ = (
        Index("ix_posts_status_published", "status", "published"),
        Index("ix_posts_source", "source"),
    )


class SourceState(Base):
    """What a source needs to read cheaply next time (ETag, cursor, file fingerprints)."""

    __tablename__ = "source_state"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_read: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

"""The JSON the API reads and writes, as pydantic models: they validate requests and
document both directions in /api/openapi.json. The shapes are DESIGN.md's, as the
CLI's `--json` output prints them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.editorial import MAX_INTRO, MAX_SUBJECT
from subscribers import Frequency

Timestamp = Annotated[
    str, Field(description="ISO 8601 with offset", examples=["2026-11-23T08:00:00+00:00"])
]
EmailAddress = Annotated[str, Field(max_length=320, json_schema_extra={"format": "email"})]
Status = Literal["pending", "confirmed", "unsubscribed", "bounced", "complained"]


class ErrorBody(BaseModel):
    """Why a request failed, on one line."""

    error: str


def failures(reasons: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error statuses, each with its reason and ErrorBody."""
    return {status: {"model": ErrorBody, "description": why} for status, why in reasons.items()}


class PostOut(BaseModel):
    id: str = Field(description="the post's GUID, stable across edits")
    slug: str
    title: str
    authors: list[str]
    url: str
    published: Timestamp
    dated: bool = Field(
        description="false when the source gave no date (published is then when it was first seen)"
    )
    updated: Timestamp
    tags: list[str]
    summary: str
    source: str


class SourceReport(BaseModel):
    source: str
    new: int
    updated: int
    unchanged: int
    removed: int
    failed: int
    errors: list[str]


class FeedReport(BaseModel):
    out_dir: str
    written: list[str] = Field(description="feeds (site, tags/…, authors/…) rewritten")
    unchanged: int
    removed: list[str]
    hub_error: str | None = Field(description="why the WebSub hub was not told, if it was not")


class IngestResult(BaseModel):
    sources: list[SourceReport]
    feeds: FeedReport | None = Field(description="the feed build, if a post changed")
    failed: bool = Field(description="whether any source or the hub ping failed")


class SubscriberOut(BaseModel):
    email: str
    name: str
    status: Status
    frequency: Frequency
    timezone: str
    topics: list[str]
    labels: list[str] = Field(description="tags from another tool that match no post's tag")
    created: Timestamp
    confirmed_at: Timestamp | None
    unsubscribed_at: Timestamp | None


class SubscriberPage(BaseModel):
    items: list[SubscriberOut]
    total: int = Field(description="subscribers matching the filter, on all pages")
    offset: int
    limit: int


class ConsentOut(BaseModel):
    at: Timestamp
    action: str
    method: str
    ip: str | None
    user_agent: str | None


class PersonalData(SubscriberOut):
    """All that is stored about one person (a GDPR access request)."""

    confirmation_sent_at: Timestamp | None
    bounce_count: int
    consents: list[ConsentOut]


class NewSubscriber(BaseModel):
    """An address to add; an existing one is updated with the fields given."""

    model_config = ConfigDict(extra="forbid")

    email: EmailAddress
    name: Annotated[str | None, Field(max_length=200)] = None
    frequency: Frequency | None = None
    timezone: Annotated[str | None, Field(max_length=64)] = None
    topics: Annotated[list[Annotated[str, Field(max_length=100)]] | None, Field(max_length=50)] = (
        None
    )
    confirmed: bool = Field(
        False, description="consent was given elsewhere: skip the confirmation mail"
    )


class Removal(BaseModel):
    email: str
    removed: bool = Field(description="whether a subscriber was deleted")
    erased: bool = Field(description="whether the address is suppressed for good")


class Stats(BaseModel):
    status: dict[str, int] = Field(description="subscribers by status")
    frequency: dict[str, int] = Field(description="confirmed subscribers by frequency")


class RunOut(BaseModel):
    id: int
    kind: str = Field(
        description="digest, broadcast (a one-off mail) or invitation (confirmation requests)"
    )
    frequency: str = Field(description="the digest's frequency; `broadcast` for a broadcast")
    period: str = Field(examples=["2026-W47"])
    created: Timestamp
    status: str = Field(description="queued, sending, paused, done, expired or cancelled")
    counts: dict[str, int] = Field(description="outbox rows by status")
    expires_at: Timestamp
    finished_at: Timestamp | None
    note: str | None
    subject: str | None = Field(description="the subject an editor set for this run, if any")
    topic: str | None = Field(description="a broadcast's topic, if it went to one topic only")


class SendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(
        None, max_length=MAX_SUBJECT, description="this run's subject instead of the default"
    )
    intro: str | None = Field(
        None, max_length=MAX_INTRO, description="a Markdown note that opens this run's digest"
    )


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailAddress | None = Field(
        None, description="preview this subscriber's copy; omitted: a sample reader's"
    )


class Preview(BaseModel):
    frequency: Frequency
    email: str = Field(description="the address the copy was rendered for")
    posts: int
    subject: str
    html: str
    text: str

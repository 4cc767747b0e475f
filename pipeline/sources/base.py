"""The one small interface every source kind implements.

A source reads its origin (a folder, a feed URL, a WordPress site) and hands ingest a
`Batch`: the entries it read, one-line errors for what it could not read, the set of
ids still present at the origin (so ingest can retire the rest), and the state to keep
for the next, cheaper, read (ETags, file fingerprints, cursors).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypedDict

from pipeline.text import former_slugify, slugify


class SourceError(Exception):
    """The whole source could not be read; the message is one line naming where and why."""


class ParseError(ValueError):
    """One document could not be parsed; the message says why (the caller adds where)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One post as its source has it, before ingest sanitises and stores it.

    `guid` and `slug` are always set (see `derive_guid` and `slugify`) so that a source
    can report which posts are still present without ingest's help.
    """

    guid: str
    slug: str
    title: str  # plain text (a source whose titles are HTML converts them)
    content_html: str
    url: str | None = None
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    summary: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    draft: bool = False
    origin: str = ""
    image: str | None = None  # the feed's own lead image (enclosure, media:content)
    # What the post was stored under before slugs were cut at a word boundary (set only
    # where that differs), so a post stored then keeps its id and its URL.
    former_guid: str | None = None
    former_slug: str | None = None


@dataclass(slots=True)
class Batch:
    """What one read of a source produced.

    `present` is every guid the origin still holds, or None when the source cannot know
    (a feed shows only its latest entries, so absence there means nothing).
    """

    entries: list[Entry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    present: set[str] | None = None
    state: dict[str, Any] = field(default_factory=dict)


class Source(Protocol):
    """A configured origin of posts."""

    name: str

    def read(self, state: Mapping[str, Any]) -> Batch:
        """Read what changed since `state` (the previous batch's state; empty at first)."""
        ...


class Ids(TypedDict):
    """An Entry's identity fields (see `identify`)."""

    guid: str
    slug: str
    former_guid: str | None
    former_slug: str | None


def identify(source: str, text: str, *, guid: str | None = None, url: str | None = None) -> Ids:
    """An Entry's `guid` and `slug` made from `text` (a title, a file name, a source's own
    slug), with the `former_guid`/`former_slug` the post had if stored before slugs were
    cut at a word boundary."""
    slug, former = slugify(text), former_slugify(text)
    derived = derive_guid(source, guid=guid, url=url, slug=slug)
    if former == slug:
        return {"guid": derived, "slug": slug, "former_guid": None, "former_slug": None}
    was = derive_guid(source, guid=guid, url=url, slug=former)
    return {
        "guid": derived,
        "slug": slug,
        "former_guid": was if was != derived else None,
        "former_slug": former,
    }


def derive_guid(source: str, *, guid: str | None, url: str | None, slug: str) -> str:
    """The post's stable id: the source's GUID, else its URL, else a hash of source and slug."""
    for candidate in (guid, url):
        if candidate and candidate.strip():
            return candidate.strip()
    digest = hashlib.sha256(f"{source}\0{slug}".encode()).hexdigest()[:32]
    return f"urn:newsletter:{digest}"

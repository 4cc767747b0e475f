"""What goes into which feed: the site's feed, one per tag and one per author.

Planning works on `Stamp`s, a few light columns per post, so that deciding whether
anything changed never loads post bodies; only feeds that must be rebuilt get their
`FeedItem`s loaded.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline.links import post_url
from pipeline.settings import Settings
from pipeline.text import slugify

# Bump when the rendered output changes for the same posts, so every feed is rebuilt once.
FORMAT_VERSION = 2
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ABOUT = {"tags": "Posts tagged", "authors": "Posts by"}
_FEED_PATH = re.compile(r"^((tags|authors)/[a-z0-9-]+)?$")
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class Stamp:
    """What a feed's fingerprint and grouping need to know of one published post."""

    id: int
    guid: str
    content_hash: str
    updated: datetime
    tags: tuple[str, ...]
    authors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One post as every feed format shows it: text safe for XML, dates to the second."""

    guid: str
    url: str
    title: str
    summary: str
    content_html: str
    published: datetime
    updated: datetime
    authors: tuple[str, ...]
    tags: tuple[str, ...]
    image: str | None = None  # the lead image's URL
    image_alt: str = ""

    @classmethod
    def from_row(cls, row: Any, base_url: str) -> FeedItem:
        """An item from a row of post columns, dropping characters XML 1.0 cannot carry;
        the site's own posts are linked under `base_url`."""
        return cls(
            guid=row.guid,
            url=post_url(row.url, row.slug, base_url),
            title=_xml_text(row.title),
            summary=_xml_text(row.summary),
            content_html=_xml_text(row.content_html),
            published=_to_second(row.published),
            updated=_to_second(row.updated),
            authors=tuple(_xml_text(name) for name in row.authors or ()),
            tags=tuple(_xml_text(tag) for tag in row.tags or ()),
            image=row.image,
            image_alt=_xml_text(row.image_alt),
        )


@dataclass(frozen=True)
class Channel:
    """One feed, written in three formats under `path` ("" for the site, "tags/<slug>", …)."""

    path: str
    title: str
    description: str
    home_url: str
    base_url: str
    language: str
    author: str
    hub: str | None
    icon: str | None = None  # SITE_ICON, SITE_FAVICON
    favicon: str | None = None
    stamps: list[Stamp] = field(default_factory=list)

    def url(self, filename: str) -> str:
        """The public URL of one of this feed's files (its self link)."""
        return "/".join(part for part in (self.base_url, self.path, filename) if part)

    @property
    def ids(self) -> list[int]:
        """The posts of this feed, newest first."""
        return [stamp.id for stamp in self.stamps]

    @property
    def fingerprint(self) -> str:
        """A hash of everything the feed shows: the feed-level fields and each item's identity,
        content hash and update time, in order."""
        header = [
            FORMAT_VERSION,
            self.path,
            self.title,
            self.description,
            self.home_url,
            self.base_url,
            self.language,
            self.author,
            self.hub,
            self.icon,
            self.favicon,
        ]
        items = [(s.guid, s.content_hash, s.updated.isoformat()) for s in self.stamps]
        data = json.dumps([header, items], ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(data.encode()).hexdigest()

    def authors_of(self, item: FeedItem) -> tuple[str, ...]:
        """The item's authors, or the feed-level author (the site) when the post names none."""
        return item.authors or (self.author,)


def plan_channels(settings: Settings, stamps: Iterable[Stamp]) -> list[Channel]:
    """The site's feed, then one per tag and per author slug, each holding its newest
    FEED_MAX_ITEMS posts; `stamps` must come newest first.

    Tags or authors whose names slugify alike ("Housing", "housing") share one feed,
    titled with the spelling of their newest post.
    """
    site = _channel(settings, "", settings.site_title, settings.site_description, None)
    groups = _Groups(settings)
    limit = settings.feed_max_items
    for stamp in stamps:
        if len(site.stamps) < limit:
            site.stamps.append(stamp)
        paths = groups.paths("tags", stamp.tags) + groups.paths("authors", stamp.authors)
        for path in dict.fromkeys(paths):
            if len(groups.channels[path].stamps) < limit:
                groups.channels[path].stamps.append(stamp)
    return [site, *(groups.channels[path] for path in sorted(groups.channels))]


class _Groups:
    """The tag and author channels met so far, found by the names posts give them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.channels: dict[str, Channel] = {}
        self._paths: dict[tuple[str, str], str] = {}  # slugify once per name, not per post

    def paths(self, kind: str, names: Sequence[str]) -> list[str]:
        """The channel paths of `names`, creating the channels not met yet."""
        found = []
        for name in names:
            path = self._paths.get((kind, name))
            if path is None:
                path = self._paths[kind, name] = f"{kind}/{slugify(name)}"
                if path not in self.channels:
                    title = f"{self.settings.site_title}: {name}"
                    description = f"{_ABOUT[kind]} {name}"
                    self.channels[path] = _channel(self.settings, path, title, description, path)
            found.append(path)
        return found


def _channel(
    settings: Settings, path: str, title: str, description: str, page: str | None
) -> Channel:
    home = f"{settings.base_url}/{page}" if page else str(settings.site_url)
    return Channel(
        path=path,
        title=title,
        description=description or title,
        home_url=home,
        base_url=settings.base_url,
        language=settings.language,
        author=settings.site_title,
        hub=str(settings.websub_hub) if settings.websub_hub else None,
        icon=str(settings.site_icon) if settings.site_icon else None,
        favicon=str(settings.site_favicon) if settings.site_favicon else None,
    )


def is_feed_path(path: str) -> bool:
    """Whether `path` is one this package writes, so that cleaning up never strays."""
    return bool(_FEED_PATH.match(path))


def feed_updated(items: Sequence[FeedItem]) -> datetime:
    """The feed's update time: its newest item's, never the clock's (so rebuilds are stable)."""
    return max((item.updated for item in items), default=EPOCH)


def _xml_text(value: str | None) -> str:
    return _XML_INVALID.sub("", value or "")


def _to_second(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=0)

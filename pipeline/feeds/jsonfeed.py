"""JSON Feed 1.1 (https://jsonfeed.org/version/1.1), written with stable key order."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pipeline.feeds.model import Channel, FeedItem

VERSION = "https://jsonfeed.org/version/1.1"


def render_json(channel: Channel, items: Sequence[FeedItem]) -> bytes:
    """The channel as a JSON Feed document (UTF-8, newline-terminated)."""
    document: dict[str, Any] = {
        "version": VERSION,
        "title": channel.title,
        "home_page_url": channel.home_url,
        "feed_url": channel.url("feed.json"),
        "description": channel.description,
        "language": channel.language,
        "authors": [{"name": channel.author}],
    }
    if channel.icon:
        document["icon"] = channel.icon
    if channel.favicon:
        document["favicon"] = channel.favicon
    if channel.hub:
        document["hubs"] = [{"type": "WebSub", "url": channel.hub}]
    document["items"] = [_item(channel, item) for item in items]
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode()


def _item(channel: Channel, item: FeedItem) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": item.guid,
        "url": item.url,
        "title": item.title,
        "content_html": item.content_html,
    }
    if item.summary:
        entry["summary"] = item.summary
    if item.image:
        entry["image"] = item.image
    entry |= {
        "date_published": item.published.isoformat(),
        "date_modified": item.updated.isoformat(),
        "authors": [{"name": name} for name in channel.authors_of(item)],
        "tags": list(item.tags),
    }
    return entry

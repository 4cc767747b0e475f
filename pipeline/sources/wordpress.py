"""A WordPress site as a source, through its REST API (`/wp-json/wp/v2/posts`).

Reads are incremental: posts come least recently modified first, and the greatest
`modified_gmt` seen becomes the cursor sent as `modified_after` next time. A second,
light listing of every live post lets ingest retire posts deleted or unpublished since.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urljoin

import requests

from pipeline.sanitize import plain_text
from pipeline.sources.base import Batch, Entry, Ids, ParseError, SourceError, identify
from pipeline.sources.collect import collect_entries, unique
from pipeline.sources.dates import parse_iso
from pipeline.sources.http import fetch, looks_like_html

POSTS_PATH = "/wp-json/wp/v2/posts"
PER_PAGE = 100  # the most the REST API returns per page
TAXONOMIES = ("category", "post_tag")
PLACEHOLDER_CATEGORY = "uncategorized"  # WordPress's default; it says nothing about a post


class WordPressSource:
    """One WordPress site, given by its home URL."""

    def __init__(self, name: str, url: str, *, session: requests.Session) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self._session = session

    def read(self, state: Mapping[str, Any]) -> Batch:
        """Posts modified since the cursor in `state`, and the guids of all live posts."""
        cursor = parse_iso(state.get("cursor"))
        params: dict[str, str | int] = {
            "_embed": 1,
            "per_page": PER_PAGE,
            "orderby": "modified",
            "order": "asc",
        }
        if cursor is not None:
            # With an offset WordPress converts to site time before comparing with post_modified.
            params["modified_after"] = cursor.isoformat()
        posts = self._list(params)
        entries, errors = collect_entries(self.url, posts, self._entry, _post_label)
        present, listing_error = self._present()
        if listing_error:
            errors.append(listing_error)
        cursor = _latest([cursor, *(entry.updated for entry in entries)])
        return Batch(
            entries=entries,
            errors=errors,
            present=present,
            state={"cursor": cursor.isoformat()} if cursor else {},
        )

    def _list(self, params: Mapping[str, str | int]) -> list[Any]:
        """Every page of a posts listing, as many as the X-WP-TotalPages header says."""
        items: list[Any] = []
        page = pages = 1
        while page <= pages:
            posts, pages = self._page({**params, "page": page})
            if not posts:
                break
            items.extend(posts)
            page += 1
        return items

    def _page(self, params: Mapping[str, str | int]) -> tuple[list[Any], int]:
        """One page of posts and the page count, or a SourceError if this is not WordPress."""
        response = fetch(
            self._session, self.url + POSTS_PATH, where=self.url, params=params, ok=(200, 404)
        )
        if response.status_code == 404:
            raise SourceError(f"{self.url}: not a WordPress REST API (HTTP 404)")
        try:
            posts = json.loads(response.content)
        except ValueError as exc:
            reason = "got an HTML page" if looks_like_html(response) else "response is not JSON"
            raise SourceError(f"{self.url}: not a WordPress REST API ({reason})") from exc
        if not isinstance(posts, list):
            raise SourceError(f"{self.url}: not a WordPress REST API (posts are not a JSON list)")
        pages = response.headers.get("X-WP-TotalPages", "")
        return posts, int(pages) if pages.isdigit() else 1

    def _present(self) -> tuple[set[str] | None, str | None]:
        """Guids of every live post, or (None, why) when they cannot all be listed."""
        params: dict[str, str | int] = {"_fields": "id,guid,link,slug", "per_page": PER_PAGE}
        try:
            return {self._guid(post) for post in self._list(params)}, None
        except SourceError as exc:
            return None, f"{exc} (listing live posts; removals not checked)"
        except ParseError as exc:
            return None, f"{self.url}: {exc} (listing live posts; removals not checked)"

    def _entry(self, post: Any) -> Entry:
        embedded = post.get("_embedded")
        embedded = embedded if isinstance(embedded, dict) else {}
        return Entry(
            **self._ids(post),
            title=plain_text(_rendered(post, "title")),  # WordPress renders titles as HTML
            content_html=_rendered(post, "content"),
            url=self._link(post),
            authors=unique(
                _plain(person.get("name")) for person in _objects(embedded.get("author"))
            ),
            tags=_term_names(embedded.get("wp:term")),
            summary=_rendered(post, "excerpt") or None,
            published=parse_iso(post.get("date_gmt")),
            updated=parse_iso(post.get("modified_gmt")),
            origin=self.url,
        )

    def _guid(self, post: Any) -> str:
        """The guid of a post, the same from a full post and from the `_fields` id listing."""
        if not isinstance(post, dict):
            raise ParseError("post is not a JSON object")
        return self._ids(post)["guid"]

    def _ids(self, post: Mapping[str, Any]) -> Ids:
        guid = html.unescape(_rendered(post, "guid"))
        return identify(self.name, _slug_text(post), guid=guid, url=self._link(post))

    def _link(self, post: Mapping[str, Any]) -> str | None:
        link = post.get("link")
        if link is not None and not isinstance(link, str):
            raise ParseError("link is not a string")
        return urljoin(self.url + "/", link) if link else None


def _post_label(post: Any) -> object:
    return post.get("id") if isinstance(post, dict) else None


def _rendered(post: Mapping[str, Any], field: str) -> str:
    """A `{"rendered": ...}` field's HTML; absent fields are empty."""
    value = post.get(field)
    if value is None:
        return ""
    rendered = value.get("rendered") if isinstance(value, dict) else None
    if not isinstance(rendered, str):
        raise ParseError(f"{field}.rendered is not a string")
    return rendered


def _slug_text(post: Mapping[str, Any]) -> str:
    """WordPress's own slug (percent-encoded when not Latin), else the post id."""
    return unquote(str(post.get("slug") or post.get("id") or ""))


def _term_names(groups: Any) -> tuple[str, ...]:
    """Category and tag names from `_embedded["wp:term"]`, one list per taxonomy."""
    terms = (term for group in _objects(groups, list) for term in _objects(group))
    return unique(
        _plain(term.get("name"))
        for term in terms
        if term.get("taxonomy") in TAXONOMIES and term.get("slug") != PLACEHOLDER_CATEGORY
    )


def _objects(value: Any, kind: type = dict) -> list[Any]:
    """The `kind` members of a JSON list; embedded data is optional and may hold errors."""
    return [item for item in value if isinstance(item, kind)] if isinstance(value, list) else []


def _plain(value: Any) -> str:
    """Term and author names come HTML-escaped (`Law &amp; Policy`); tags are plain text."""
    return html.unescape(value) if isinstance(value, str) else ""


def _latest(dates: list[datetime | None]) -> datetime | None:
    """The latest modification seen, or the old cursor when nothing has changed since."""
    return max((d for d in dates if d is not None), default=None)

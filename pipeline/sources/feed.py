"""A feed as a source: RSS 0.9x/1.0/2.0 and Atom 1.0 (via feedparser) and JSON Feed 1.0/1.1.

Polling is made cheap with conditional GET (ETag / Last-Modified kept in the state).
A feed shows only its latest entries, so it never claims to know which posts are gone.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import feedparser
import requests

from pipeline.http import one_line
from pipeline.links import is_web_url
from pipeline.sanitize import plain_text
from pipeline.sources.base import Batch, Entry, ParseError, SourceError, identify
from pipeline.sources.collect import collect_entries, unique
from pipeline.sources.dates import from_struct_time, parse_iso
from pipeline.sources.http import Fetched, fetch, looks_like_html

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
JSON_TYPES = ("application/feed+json", "application/json")
# Problems feedparser flags although the entries it read are sound.
HARMLESS = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)


class FeedSource:
    """One feed URL."""

    def __init__(self, name: str, url: str, *, session: requests.Session) -> None:
        self.name = name
        self.url = url
        self._session = session

    def read(self, state: Mapping[str, Any]) -> Batch:
        """Fetch the feed unless it is unchanged since `state`, and map its entries."""
        response = fetch(
            self._session,
            self.url,
            where=self.url,
            headers={"Accept": ACCEPT, **_conditional_headers(state)},
            ok=(200, 304),
        )
        if response.status_code == 304:
            return Batch(state=dict(state))
        if _is_json(response):
            entries, errors = self._read_json_feed(response)
        else:
            entries, errors = self._read_xml_feed(response)
        return Batch(entries=entries, errors=errors, present=None, state=_validators(response))

    def _read_xml_feed(self, response: Fetched) -> tuple[list[Entry], list[str]]:
        """RSS or Atom; a damaged document still yields the entries feedparser recovered."""
        try:
            parsed = feedparser.parse(
                response.content,
                response_headers={
                    "content-location": response.url,
                    "content-type": response.headers.get("Content-Type", ""),
                },
            )
        except Exception as exc:  # feedparser has no exception type of its own to catch
            raise SourceError(f"{self.url}: unreadable feed ({one_line(exc)})") from exc
        problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
        if isinstance(problem, HARMLESS):
            problem = None
        if not parsed.entries:
            if not parsed.get("version"):
                reason = _not_a_feed_reason(response, problem)
                raise SourceError(f"{self.url}: not a feed ({reason})")
            if problem is not None:
                raise SourceError(f"{self.url}: malformed feed ({_bozo_reason(problem)})")
        base = urljoin(response.url, parsed.feed.get("link", ""))
        # Atom entries inherit the feed's authors; an RSS channel's editor is not the author.
        is_atom = parsed.get("version", "").startswith("atom")
        inherited = _names(parsed.feed.get("authors")) if is_atom else ()
        entries, errors = collect_entries(
            self.url,
            parsed.entries,
            lambda raw: self._from_feedparser(raw, base, inherited),
            lambda raw: raw.get("id") or raw.get("link"),
        )
        if problem is not None:
            errors.append(
                f"{self.url}: malformed feed ({_bozo_reason(problem)}), kept {len(entries)} entries"
            )
        return entries, errors

    def _from_feedparser(self, raw: dict[str, Any], base: str, inherited: tuple[str, ...]) -> Entry:
        content, summary = _feedparser_content(raw)
        # dict.get: FeedParserDict.get("updated_parsed") falls back to the published date.
        updated = from_struct_time(dict.get(raw, "updated_parsed"))
        return self._entry(
            source_id=raw.get("id"),
            url=urljoin(base, raw["link"]) if raw.get("link") else None,
            title=_feedparser_title(raw),
            content_html=content,
            summary=summary,
            authors=_names(raw.get("authors")) or inherited,
            tags=unique(tag.get("label") or tag.get("term") for tag in raw.get("tags", ())),
            # RSS 1.0's dc:date and an Atom entry's required <updated> are often its only date.
            published=from_struct_time(raw.get("published_parsed")) or updated,
            updated=updated,
            image=_feedparser_image(raw, base),
        )

    def _read_json_feed(self, response: Fetched) -> tuple[list[Entry], list[str]]:
        """JSON Feed, read directly: feedparser 6.0 does not read it."""
        try:
            document = json.loads(response.content)
        except ValueError as exc:
            raise SourceError(f"{self.url}: not a feed (invalid JSON: {one_line(exc)})") from exc
        if not isinstance(document, dict) or not isinstance(document.get("items"), list):
            raise SourceError(f"{self.url}: not a feed (JSON without a JSON Feed items list)")
        inherited = _json_authors(document)
        return collect_entries(
            self.url,
            document["items"],
            lambda item: self._from_json_item(item, response.url, inherited),
            lambda item: item.get("id") if isinstance(item, dict) else None,
        )

    def _from_json_item(self, item: Any, base: str, inherited: tuple[str, ...]) -> Entry:
        if not isinstance(item, dict):
            raise ParseError("item is not a JSON object")
        url = _json_text(item, "url") or _json_text(item, "external_url")
        content_text = _json_text(item, "content_text")
        summary = _json_text(item, "summary")
        tags = item.get("tags", [])
        if not isinstance(tags, list):
            raise ParseError("tags is not a list")
        source_id = item.get("id")
        return self._entry(
            source_id=None if source_id is None else str(source_id),
            url=urljoin(base, url) if url else None,
            title=_json_text(item, "title") or "",
            content_html=_json_text(item, "content_html") or _text_to_html(content_text or ""),
            # JSON Feed summaries are plain text; Entry.summary is HTML like RSS descriptions.
            summary=html.escape(summary) if summary else None,
            authors=_json_authors(item) or inherited,
            tags=unique(tags),
            published=parse_iso(item.get("date_published")),
            updated=parse_iso(item.get("date_modified")),
            image=_json_image(item, base),
        )

    def _entry(self, *, source_id: str | None, url: str | None, title: str, **fields: Any) -> Entry:
        """An Entry with guid and slug derived the same way for every feed format."""
        if not (title or url or fields["content_html"]):
            raise ParseError("empty entry (no title, link or content)")
        ids = identify(
            self.name, _slug_text(url, title or fields["content_html"]), guid=source_id, url=url
        )
        return Entry(
            **ids,
            title=title,
            url=url,
            origin=self.url,
            **fields,
        )


def _conditional_headers(state: Mapping[str, Any]) -> dict[str, str]:
    """The validators from the last read, so an unchanged feed costs a 304 and no parsing."""
    headers = {}
    if state.get("etag"):
        headers["If-None-Match"] = state["etag"]
    if state.get("last_modified"):
        headers["If-Modified-Since"] = state["last_modified"]
    return headers


def _validators(response: Fetched) -> dict[str, str]:
    pairs = (("etag", "ETag"), ("last_modified", "Last-Modified"))
    return {key: response.headers[header] for key, header in pairs if response.headers.get(header)}


def _is_json(response: Fetched) -> bool:
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return content_type in JSON_TYPES or response.content.lstrip().startswith(b"{")


def _not_a_feed_reason(response: Fetched, problem: BaseException | None) -> str:
    if looks_like_html(response):
        return "got an HTML page"
    if problem is not None:
        return _bozo_reason(problem)
    return "no RSS, Atom or JSON Feed document found"


def _bozo_reason(problem: BaseException) -> str:
    """feedparser's complaint in a few words, with the line for XML syntax errors."""
    get_line = getattr(problem, "getLineNumber", None)
    get_message = getattr(problem, "getMessage", None)
    if get_line and get_message:
        return f"{get_message()} at line {get_line()}"
    return one_line(problem)


def _feedparser_content(raw: Mapping[str, Any]) -> tuple[str, str | None]:
    """(content_html, summary): the full content if the entry has one, else its summary.

    feedparser copies content into `summary` when an entry has none; that copy is no summary.
    """
    contents = raw.get("content") or ()
    best = next((c for c in contents if "html" in c.get("type", "")), None)
    best = best or next(iter(contents), None)
    summary = _detail_html(raw.get("summary"), raw.get("summary_detail"))
    if best is None:
        return summary or "", None
    content = _detail_html(best.get("value"), best) or ""
    return content, None if raw.get("summary") == best.get("value") else summary


def _detail_html(value: str | None, detail: Mapping[str, Any] | None) -> str | None:
    """A feedparser text construct as HTML (Atom `type="text"` arrives as plain text)."""
    if not value:
        return None
    if detail and detail.get("type") == "text/plain":
        return _text_to_html(value)
    return value


def _text_to_html(text: str) -> str:
    """Plain text as HTML paragraphs, escaped, one per blank-line-separated block."""
    blocks = (block.strip() for block in text.replace("\r\n", "\n").split("\n\n"))
    return "\n".join(f"<p>{html.escape(block)}</p>" for block in blocks if block)


def _names(people: Iterable[Mapping[str, Any]] | None) -> tuple[str, ...]:
    """Author names from feedparser or JSON Feed person objects, falling back to the email."""
    return unique(
        person.get("name") or person.get("email")
        for person in people or ()
        if isinstance(person, Mapping)
    )


def _json_authors(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """JSON Feed 1.1's `authors` list, else 1.0's single `author` object."""
    authors = obj.get("authors")
    if isinstance(authors, list):
        return _names(authors)
    author = obj.get("author")
    return _names([author]) if isinstance(author, Mapping) else ()


def _json_text(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    if value is not None and not isinstance(value, str):
        raise ParseError(f"{key} is not a string")
    return value


def _slug_text(url: str | None, fallback: str) -> str:
    """What the slug is made from: the slug the site itself uses (its web URL's last path
    segment), else the title."""
    web = url if is_web_url(url) else ""
    segment = unquote(urlsplit(web).path.rstrip("/").rpartition("/")[2])
    stem = segment.rsplit(".", 1)[0] if segment.endswith((".html", ".htm", ".php")) else segment
    return stem or fallback


def _feedparser_image(raw: Mapping[str, Any], base: str) -> str | None:
    """An entry's lead image: an image enclosure, else media:content or media:thumbnail."""
    candidates = [
        *(link.get("href") for link in raw.get("enclosures", ()) if _is_image(link)),
        *(media.get("url") for media in raw.get("media_content", ()) if _is_image(media)),
        *(media.get("url") for media in raw.get("media_thumbnail", ())),
    ]
    return next((urljoin(base, url) for url in candidates if url), None)


def _is_image(media: Mapping[str, Any]) -> bool:
    return media.get("medium") == "image" or str(media.get("type", "")).startswith("image/")


def _json_image(item: Mapping[str, Any], base: str) -> str | None:
    url = _json_text(item, "image") or _json_text(item, "banner_image")
    return urljoin(base, url) if url else None


def _feedparser_title(raw: Mapping[str, Any]) -> str:
    """The entry's title as plain text: feedparser decodes text titles, not HTML ones."""
    title = raw.get("title", "")
    if raw.get("title_detail", {}).get("type") in ("text/html", "application/xhtml+xml"):
        return plain_text(title)
    return title

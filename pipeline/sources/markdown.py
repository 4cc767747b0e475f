"""Markdown posts with YAML front matter (the Jekyll/Hugo/Pelican convention)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from typing import Any

import yaml
from markdown_it import MarkdownIt

from pipeline.authors import people
from pipeline.sources.base import ParseError

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.M | re.S)
_HEADING = re.compile(r"\A\s*#[ \t]+(.+?)[ \t#]*(?:\r?\n|\Z)")
# libyaml's loader is ~10x faster than the pure-Python one; both are "safe".
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RENDERER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


@dataclass(frozen=True, slots=True)
class MarkdownPost:
    """A Markdown file's front matter, checked, and its body rendered to HTML."""

    title: str
    html: str
    slug: str | None = None
    guid: str | None = None
    url: str | None = None
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    summary: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    draft: bool = False


def parse_markdown(text: str, *, default_tz: tzinfo) -> MarkdownPost:
    """Parse one file; `ParseError` (one line) for anything a writer would need to fix."""
    meta, body = split_front_matter(text.removeprefix("\ufeff"))
    title = _text(meta, "title")
    if not title and (heading := _HEADING.match(body)):
        title, body = heading.group(1).strip(), body[heading.end() :]
    if not title:
        raise ParseError("no title (add 'title:' to the front matter or start with '# Title')")
    return MarkdownPost(
        title=title,
        html=_RENDERER.render(body),
        slug=_text(meta, "slug"),
        guid=_text(meta, "id") or _text(meta, "guid"),
        url=_text(meta, "url"),
        authors=_names(meta, "authors") or _names(meta, "author"),
        tags=_names(meta, "tags"),
        summary=_text(meta, "summary"),
        published=_datetime(meta, "date", default_tz),
        updated=_datetime(meta, "updated", default_tz),
        draft=_flag(meta, "draft"),
    )


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The front matter as a mapping (empty when absent) and the body after it."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.load(match.group(1), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ParseError(f"front matter{where}: {problem}") from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ParseError("front matter must be a mapping of 'key: value' lines")
    return {str(key).lower(): value for key, value in meta.items()}, text[match.end() :]


def _text(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, dict | list):
        raise ParseError(f"front matter '{key}' must be text")
    return " ".join(str(value).split()) or None


def _names(meta: dict[str, Any], key: str) -> tuple[str, ...]:
    value = meta.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        items: Any = people(value) if key.startswith("author") else value.split(",")
    else:
        items = value
    if not isinstance(items, list) or any(isinstance(item, dict | list) for item in items):
        raise ParseError(f"front matter '{key}' must be a name or a list of names")
    names = (" ".join(str(item).split()) for item in items if item is not None)
    return tuple(dict.fromkeys(name for name in names if name))


def _flag(meta: dict[str, Any], key: str) -> bool:
    value = meta.get(key, False)
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() in {"yes", "true", "1", "on"}:
        return True
    if str(value).strip().lower() in {"no", "false", "0", "off", ""}:
        return False
    raise ParseError(f"front matter '{key}' must be true or false, not {value!r}")


def _datetime(meta: dict[str, Any], key: str, default_tz: tzinfo) -> datetime | None:
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace(" ", "T", 1))
        except ValueError:
            raise ParseError(
                f"front matter '{key}': {value!r} is not a date (use 2024-05-01 or "
                "2024-05-01T09:30:00+01:00)"
            ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=default_tz)

"""Posts as a digest shows them: short, dated in the site's zone, and inert.

The rendered digest is a message template: `%%slot%%` placeholders in it become each
recipient's values. Post text comes from other people's feeds, so any `%%` in it is broken
with an invisible word joiner (U+2060): a post saying `%%email%%` must never show a
recipient their own address, let alone someone else's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from pipeline.links import post_url
from pipeline.mail.template import SLOT_START, inert
from pipeline.sanitize import shorten, summary_cut
from pipeline.storage.models import Post

TITLE_LENGTH = 200  # a title is a line, not an essay: the size cap counts on it
BYLINE_AUTHORS = 3

_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"  # reserved characters and escapes stay as they are


@dataclass(frozen=True)
class Entry:
    """One post's fields, ready for both templates (Jinja2 escapes them for the HTML)."""

    title: str
    url: str
    byline: str
    date: str  # "3 November 2026"
    date_iso: str  # "2026-11-03", for <time datetime>
    summary: str  # empty when the digest shows titles only
    image: str = ""  # the lead image's URL, "" for none
    image_alt: str = ""


def entries(
    posts: Sequence[Post],
    *,
    zone: ZoneInfo,
    base_url: str,
    summary_length: int,
    link: Callable[[Post], str] | None = None,
) -> list[Entry]:
    """The posts as entries; `summary_length` 0 leaves summaries out; `link` gives a post's
    address in the mail (default: the post's own, see `pipeline.clicks.post_links`)."""
    return [
        Entry(
            title=inert(shorten(post.title, TITLE_LENGTH)),
            url=_safe_url(link(post)) if link else _link(post, base_url),
            byline=inert(byline(post.authors)),
            date=long_date(post.published, zone),
            date_iso=post.published.astimezone(zone).date().isoformat(),
            summary=inert(summary_cut(post.summary, summary_length)) if summary_length else "",
            image=_safe_url(post.image) if post.image else "",
            image_alt=inert(post.image_alt or ""),
        )
        for post in posts
    ]


def byline(authors: Sequence[str]) -> str:
    """Who wrote it: "By Ann, Bo and Cy", or "By Ann, Bo, Cy and 4 others" for a long list."""
    names = [name for name in authors if name.strip()]
    if len(names) > BYLINE_AUTHORS + 1:
        names = [*names[:BYLINE_AUTHORS], f"{len(names) - BYLINE_AUTHORS} others"]
    if not names:
        return ""
    if len(names) == 1:
        return f"By {names[0]}"
    return f"By {', '.join(names[:-1])} and {names[-1]}"


def long_date(moment: datetime, zone: ZoneInfo) -> str:
    """The day as readers in the site's time zone saw it: "3 November 2026"."""
    local = moment.astimezone(zone)
    return f"{local.day} {local:%B} {local.year}"


def date_range(moments: Sequence[datetime], zone: ZoneInfo) -> str:
    """The days `moments` span in the site's zone, each part said once: "3 November 2026",
    "2-9 November 2026", "28 October - 3 November 2026", "30 December 2026 - 2 January 2027"
    (with en dashes)."""
    days = sorted(moment.astimezone(zone).date() for moment in moments)
    first, last = days[0], days[-1]
    if first == last:
        return f"{last.day} {last:%B} {last.year}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}\u2013{last.day} {last:%B} {last.year}"
    if first.year == last.year:
        return f"{first.day} {first:%B} \u2013 {last.day} {last:%B} {last.year}"
    return f"{first.day} {first:%B} {first.year} \u2013 {last.day} {last:%B} {last.year}"


def _link(post: Post, base_url: str) -> str:
    """The post's address (see `pipeline.links`).

    Anything but printable ASCII is percent-encoded (MJML would write it into the href as a
    Rust escape such as `\\u{a0}`), and a `%%` becomes `%25%`, what a browser would request
    anyway, so that it cannot form a slot.
    """
    return _safe_url(post_url(post.url, post.slug, base_url))


def _safe_url(url: str) -> str:
    return SLOT_START.sub("%25", quote(url, safe=_URL_SAFE))

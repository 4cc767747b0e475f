"""The text rules a post's stored fields follow, and the pass that brings posts stored
under older rules in line.

Ingest applies `post_text` to what a source says. A post whose source has not changed is
never re-read (an unchanged file, a 304), so when the rules change `TEXT_RULES` goes up and
the next ingest rewrites that source's older rows from what they hold: same id, slug, URL
and news time, so nothing moves and nothing is mailed again.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pipeline.authors import person_name
from pipeline.sanitize import plain_line, sanitize_html, summarise
from pipeline.storage.models import Post

# 1: control characters, bidi overrides and tags out of titles, authors and summaries;
# summaries never a credit, caption, byline or reference line; authors without titles.
TEXT_RULES = 1
_CHUNK = 500


def post_text(
    title: str, authors: Iterable[str], tags: Iterable[str], summary: str | None, content: str
) -> dict[str, Any]:
    """The stored text fields from what a source said (`content` is its HTML)."""
    authors = list(authors)
    content_html = sanitize_html(content)
    return {
        "title": plain_line(title) or "(untitled)",
        "authors": names(person_name(name) for name in map(plain_line, authors)),
        "tags": names(tags),
        "summary": summarise(summary, content_html, authors=authors),
        "content_html": content_html,
        "text_rules": TEXT_RULES,
    }


def names(given: Iterable[str]) -> list[str]:
    """Authors or tags as plain one-line text, each once, blanks dropped."""
    return list(dict.fromkeys(name for name in map(plain_line, given) if name))


def bring_in_line(session: Session, source: str, now: datetime) -> int:
    """Rewrite `source`'s posts stored under older rules; how many changed (they count as
    updated at `now`, so feeds show the new text)."""
    fields = (Post.title, Post.authors, Post.tags, Post.summary, Post.content_html)
    query = select(Post.id, *fields).where(Post.source == source, Post.text_rules < TEXT_RULES)
    changed = 0
    while rows := session.execute(query.limit(_CHUNK)).all():
        updates = []
        for row in rows:
            stored = {field.key: getattr(row, field.key) for field in fields}
            # A stored summary is plain text; `post_text` reads a source's as HTML.
            summary = html.escape(row.summary, quote=False) if row.summary else None
            tidy = post_text(row.title, row.authors, row.tags, summary, row.content_html)
            if any(tidy[key] != value for key, value in stored.items()):
                changed += 1
                tidy["updated"] = now
            updates.append({"id": row.id, **tidy})
        session.execute(update(Post), updates)
    return changed

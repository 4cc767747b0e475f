"""A run's editorial note: its subject and an intro in Markdown, as HTML and text twins.

The intro is rendered with markdown-it, then nh3 keeps only the safe markup
(`pipeline.sanitize`); its text twin is read off that sanitised HTML, so a tag the HTML
lost cannot survive in the text either.
"""

from __future__ import annotations

import html
import re
import textwrap
from dataclasses import dataclass

import nh3
from markdown_it import MarkdownIt

from pipeline.mail.headers import safe_header
from pipeline.mail.template import inert
from pipeline.sanitize import clean_text, sanitize_html

MAX_SUBJECT = 200  # characters: a subject is a line, and mail clients show ~60 of it
MAX_INTRO = 20_000  # characters of Markdown: a note, well inside Gmail's clip
TEXT_WIDTH = 72

_RENDERER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
_LINK = re.compile(r'<a\b[^>]*\bhref="([^"]*)"[^>]*>(.*?)</a>', re.I | re.S)
_ITEM = re.compile(r"<li\b[^>]*>", re.I)
_BREAK = re.compile(r"<br\s*/?>|</li>\s*", re.I)
_BLOCK_END = re.compile(r"</(?:p|h[1-6]|blockquote|pre|tr|table|ul|ol|div|figure)>|<hr\s*/?>", re.I)
_SPACES = re.compile(r"[ \t\r\f\v]+")


class EditorialError(ValueError):
    """A subject or intro that cannot be used, and why (one line)."""


@dataclass(frozen=True)
class Editorial:
    """An editor's subject and intro (Markdown) for one run; None: the defaults."""

    subject: str | None = None
    intro: str | None = None


@dataclass(frozen=True)
class Intro:
    """The intro as the HTML and text bodies show it."""

    html: str
    text: str


def editorial(subject: str | None, intro: str | None) -> Editorial:
    """Check an editor's subject and intro (blank means none); EditorialError if unusable."""
    subject = (subject or "").strip() or None
    intro = (intro or "").strip() or None
    if subject is not None:
        if len(subject) > MAX_SUBJECT:
            raise EditorialError(f"subject: longer than {MAX_SUBJECT} characters")
        if not subject_line(subject):
            raise EditorialError("subject: nothing printable in it")
    if intro is not None and len(intro) > MAX_INTRO:
        raise EditorialError(f"intro: longer than {MAX_INTRO} characters")
    return Editorial(subject, intro)


def mail_parts(note: Editorial | None) -> tuple[str | None, Intro | None]:
    """The subject line and rendered intro a mail takes from `note` (None where unset)."""
    if note is None:
        return None, None
    subject = subject_line(note.subject) if note.subject else None
    return subject or None, render_intro(note.intro) if note.intro else None


def subject_line(subject: str) -> str:
    """`subject` as a Subject header can carry it: one line, no control characters, no
    encoded-word hiding a line break, no slot."""
    return inert(safe_header(subject)).strip()


def render_intro(markdown: str) -> Intro:
    """The intro's HTML (sanitised) and plain text twin, with no slot in either."""
    cleaned = sanitize_html(_RENDERER.render(clean_text(markdown))).strip()
    return Intro(html=inert(cleaned), text=inert(_text_of(cleaned)))


def _text_of(fragment: str) -> str:
    """Readable plain text of sanitised HTML: paragraphs kept, links as `label (URL)`."""
    with_links = _LINK.sub(_link_text, fragment)
    marked = _BLOCK_END.sub("\n\n", _BREAK.sub("\n", _ITEM.sub("- ", with_links)))
    bare = html.unescape(nh3.clean(marked, tags=set(), strip_comments=True))
    paragraphs = []
    for block in bare.split("\n\n"):
        lines = [_SPACES.sub(" ", line).strip() for line in block.splitlines()]
        wrapped = [
            textwrap.fill(line, TEXT_WIDTH, break_long_words=False) for line in lines if line
        ]
        if wrapped:
            paragraphs.append("\n".join(wrapped))
    return "\n\n".join(paragraphs)


def _link_text(link: re.Match[str]) -> str:
    label, target = link.group(2), html.unescape(link.group(1))
    plain = html.unescape(nh3.clean(label, tags=set())).strip()
    return label if plain == target or not target else f"{label} ({html.escape(target)})"

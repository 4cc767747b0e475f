"""Post HTML made safe for feeds and email, and the plain text derived from it.

Everything a source hands over is untrusted: nh3 (ammonia) keeps a conservative set of
tags and attributes, drops scripts, styles and event handlers, and marks links
`noopener noreferrer`.
"""

from __future__ import annotations

import html
import re

import nh3

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "details",
    "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "small", "span",
    "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time",
    "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "hreflang"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "time": {"datetime"},
    "ol": {"start"},
    "blockquote": {"cite"},
    "q": {"cite"},
}
URL_SCHEMES = {"http", "https", "mailto"}
SUMMARY_LENGTH = 300

# C0 controls but tab and newline, DEL, the non-characters U+FFFE/U+FFFF, and bidi
# embeddings, overrides and isolates: invisible, able to disguise text, and (in XML or
# MJML) able to stop a whole feed or digest.
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f\ufffe\uffff\u202a-\u202e\u2066-\u2069]")
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_PARAGRAPH = re.compile(r"<p\b[^>]*>(.*?)</p\s*>", re.IGNORECASE | re.DOTALL)


def clean_text(text: str) -> str:
    """`text` without invisible control characters (see `_INVISIBLE`)."""
    return _INVISIBLE.sub("", text)


def plain_line(text: str) -> str:
    """A title or name as one line of plain text: tags stripped (as WordPress does with
    titles), entities decoded, control characters dropped, whitespace collapsed."""
    stripped = nh3.clean(clean_text(text), tags=set(), strip_comments=True)
    return _SPACE.sub(" ", html.unescape(stripped)).strip()


def sanitize_html(fragment: str) -> str:
    """The fragment with only safe markup left (and no invisible control characters)."""
    return nh3.clean(
        clean_text(fragment),
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def plain_text(fragment: str) -> str:
    """Text of an HTML fragment on one line: tags dropped, entities decoded, spaces collapsed."""
    cleaned = nh3.clean(fragment, tags=ALLOWED_TAGS, attributes={}, strip_comments=True)
    without_tags = _TAG.sub(" ", cleaned)
    return _SPACE.sub(" ", html.unescape(without_tags)).strip()


def shorten(text: str, limit: int = SUMMARY_LENGTH) -> str:
    """`text` cut at a word boundary to at most `limit` characters, with an ellipsis if cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.-")
    return cut + "…"


def summarise(summary: str | None, content_html: str) -> str:
    """The given summary as plain text, else the content's first paragraph, shortened."""
    if summary and (text := plain_text(clean_text(summary))):
        return shorten(text)
    paragraph = _PARAGRAPH.search(content_html)
    return shorten(plain_text(paragraph.group(1) if paragraph else content_html))

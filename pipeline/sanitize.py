"""Post HTML made safe for feeds and email, and the plain text derived from it.

Everything a source hands over is untrusted: nh3 (ammonia) keeps a conservative set of
tags and attributes, drops scripts, styles and event handlers, and marks links
`noopener noreferrer`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Iterable

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
# Tags inside a run of text: dropped without a space, so "<em>word</em>." stays "word.".
_INLINE_TAG = re.compile(
    r"</?(?:a|abbr|b|cite|code|del|em|i|ins|kbd|mark|q|s|small|span|strong|sub|sup|time|u)"
    r"\b[^>]*>",
    re.IGNORECASE,
)
_FIGURE = re.compile(r"<figure\b.*?</figure\s*>|<figcaption\b.*?</figcaption\s*>", re.I | re.S)
_SENTENCE_END = re.compile(r"[.!?][\"\u201d\u2019')\]]*(?=\s)")
_FURNITURE = re.compile(
    r"(?:(?:Picture|Photo|Photograph|Image|Illustration|Header image|Featured image|Credit"
    r"|Caption|Source)s?(?: credits?| by| courtesy of| ©)?\s*[:\-\u2013\u2014©]"
    r"|(?:Photo|Picture|Image|Photograph) (?:by|courtesy|credit)\b|©|By [A-Z][^.]{0,80}$"
    r"|(?:Theme|Series|Topic|Strand)s?:|(?:References?|Notes|Footnotes|Bibliography)(?::|$)"
    r"|\[(?:[ivxlc]+|\d+)\]"
    r"|[A-Z][\w\u2019'-]+, [A-Z]\.(?: [A-Z]\.)? (?:and .{0,60})?\((?:19|20)\d\d)",
    re.IGNORECASE,
)
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
    """Text of an HTML fragment on one line: tags dropped (a block's as a space), entities
    decoded, spaces collapsed."""
    cleaned = nh3.clean(fragment, tags=ALLOWED_TAGS, attributes={}, strip_comments=True)
    without_tags = _TAG.sub(" ", _INLINE_TAG.sub("", cleaned))
    return _SPACE.sub(" ", html.unescape(without_tags)).strip()


def shorten(text: str, limit: int = SUMMARY_LENGTH) -> str:
    """`text` cut at a word boundary to at most `limit` characters, with an ellipsis if cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.-")
    return cut + "…"


def summary_cut(text: str, limit: int = SUMMARY_LENGTH) -> str:
    """`text` cut after its last whole sentence within `limit`; a first sentence longer
    than that is cut at a word boundary, with an ellipsis."""
    if len(text) <= limit:
        return text
    ends = [found.end() for found in _SENTENCE_END.finditer(text, 0, limit + 1)]
    return text[: ends[-1]] if ends else shorten(text, limit)


def summarise(summary: str | None, content_html: str, *, authors: Iterable[str] = ()) -> str:
    """The given summary as plain text, else the content's first real paragraph (never a
    picture credit, caption, byline, theme or reference line), cut at a sentence."""
    if summary and (text := plain_text(clean_text(summary))) and not _not_summary(text, ()):
        return summary_cut(text)
    names = {name.casefold() for name in authors}
    without_figures = _FIGURE.sub("", content_html)
    for paragraph in _PARAGRAPH.finditer(without_figures):
        text = plain_text(paragraph.group(1))
        if text and not _not_summary(text, names):
            return summary_cut(text)
    if _PARAGRAPH.search(without_figures):
        return ""
    return summary_cut(plain_text(without_figures))


def _not_summary(text: str, names: Collection[str]) -> bool:
    """Whether a paragraph is furniture rather than the post: a credit, a caption, a
    byline, a theme or a reference line."""
    return bool(_FURNITURE.match(text)) or text.casefold() in names

"""Plain-text blog exports: one post, or an archive page holding several posts in a row.

Plain text has no markup, so structure is read from the shape of lines. A post starts at
a short title-like line followed (after blank lines and optional picture credits) by a
short name-like author line and then body text; everything else is body. Comment-form
and share-button boilerplate that blog exports carry along is dropped, nothing else is.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby

from pipeline.sources.base import ParseError

TITLE_MAX = 150
AUTHOR_LINE_MAX = 100
NAME_MAX_WORDS = 5

_BOILERPLATE = re.compile(
    r"Fill in your details below\b.*"
    r"|You are commenting using your\b.*\baccount\b.*"
    r"|(?:Google|Twitter|Facebook|WordPress\.com) (?:photo|picture)"
    r"|Connecting to %s"
    r"|Continue reading(?: ?[→»…].*| [\u201c\u2018\"'].*)?"
    r"|Categor(?:y|ies): .*"
    r"|(?:Share|Like) this:?"
    r"|Like Loading(?:\.\.\.|…)?|Loading(?:\.\.\.|…)"
)
# Everything from here to the next post start is the comment section. The quote after
# "thoughts on" keeps a body sentence that happens to begin "One thought on" safe.
_COMMENT_START = re.compile(
    r"(?:One|\d[\d,]*) (?:thought|response|comment)s? on [\u201c\u2018\"'«].{0,200}"
    r"|Leave a (?:[Rr]eply|[Cc]omment)(?: (?:to|Cancel)\b.{0,100})?"
)
_PICTURE = re.compile(r"(?:Picture|Photo|Image)(?: credits?)?: ?\S.*", re.IGNORECASE)
_BULLET = re.compile(r"•\s*|[-*] ")
_NOT_IN_URL = r"\s<>\"'\u2018\u2019\u201c\u201d\[\]"
_URL = re.compile(rf"(https?://[^{_NOT_IN_URL}]*[^{_NOT_IN_URL}.,;:!?)])")
_NAME_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|[\u2019'.\-])*")
_NAME_PARTICLE = re.compile(r"van|von|der|den|de|del|della|di|da|du|la|le|al|bin|ibn|ter")
# Capitalised words that start headings and sentences but never names.
_NOT_NAME_WORD = re.compile(
    r"(?:a|an|and|or|the|of|in|on|at|to|for|with|from|about|into|by|our|my|your|their|this"
    r"|that|these|those|what|why|how|when|where|who|is|are|was|were|not|no|yes|thanks"
    r"|references|notes|sources|bibliography|reading|introduction|conclusions?|summary"
    r"|background|context|overview|contents|update|postscript|appendix|footnotes"
    r"|acknowledgements|comments|reply|share|related|tags|key|findings|results|discussion"
    r"|recommendations|implications|lessons|next|steps|final|thoughts|questions|part"
    r"|chapter|section)\.?",
    re.IGNORECASE,
)
_AND = re.compile(r"\s+(?:and|&)\s+")
_BY = re.compile(r"\A[Bb]y\s+")
_BIO_VERB = r"\s+(?:is|was|has|had|works|worked|leads|led|joined)\b"


@dataclass(frozen=True, slots=True)
class TextPost:
    """One post found in a plain-text export; `html` is the escaped body."""

    title: str
    authors: tuple[str, ...]
    html: str


@dataclass(frozen=True, slots=True)
class _Line:
    text: str  # whitespace collapsed; "" for a blank line or dropped boilerplate
    indented: bool  # an indented line under a bullet continues that bullet


@dataclass(frozen=True, slots=True)
class _Header:
    title: str
    authors: tuple[str, ...]
    credits: tuple[_Line, ...]  # picture credits between title and author: body paragraphs
    end: int  # index of the first body line


def parse_text(text: str) -> list[TextPost]:
    """Every post in `text`; ParseError when there is none (blank or only boilerplate)."""
    posts = [
        TextPost(header.title, header.authors, _render(body))
        for header, body in _split(_lines(text))
    ]
    if not posts:
        raise ParseError("no post found: the text is blank or only boilerplate")
    return posts


def _lines(text: str) -> list[_Line]:
    """Normalised lines: BOM, CR, tabs and no-break spaces gone, boilerplate blanked."""
    lines = []
    for raw in text.removeprefix("\ufeff").splitlines():
        collapsed = " ".join(raw.split())
        lines.append(
            _Line("" if _BOILERPLATE.fullmatch(collapsed) else collapsed, raw[:1].isspace())
        )
    return lines


def _split(lines: list[_Line]) -> Iterator[tuple[_Header, list[_Line]]]:
    """Each post's header with its body lines, comment sections left out."""
    header: _Header | None = None
    body: list[_Line] = []
    in_comments = False
    i = 0
    while i < len(lines):
        found = _post_start(lines, i, first=header is None and not in_comments)
        if found:
            if header:
                yield header, body
            header, body, in_comments, i = found, _paragraphs(found.credits), False, found.end
            continue
        in_comments = in_comments or bool(_COMMENT_START.fullmatch(lines[i].text))
        if not in_comments:
            body.append(lines[i])
        i += 1
    if header:
        yield header, body


def _post_start(lines: list[_Line], i: int, *, first: bool) -> _Header | None:
    """The header starting at line `i`, if one does.

    The first post needs only a title; later ones need the full title, author, body
    shape, since a lone short line inside a post is common.
    """
    text = lines[i].text
    if not text or _COMMENT_START.fullmatch(text):
        return None
    if first:
        return _header_at(lines, i, strict=False)
    if (i == 0 or not lines[i - 1].text) and _is_title(text):
        return _header_at(lines, i, strict=True)
    return None


def _header_at(lines: list[_Line], i: int, *, strict: bool) -> _Header | None:
    credits = []
    k = _skip(lines, i + 1, "")
    while k < len(lines) and _PICTURE.fullmatch(lines[k].text):
        credits.append(lines[k])
        k = _skip(lines, k + 1, "")
    authors = _authors(lines[k].text) if k < len(lines) else None
    if authors is None:
        return None if strict else _Header(lines[i].text, (), (), i + 1)
    end = _skip(lines, k + 1, "", lines[k].text)  # exports often repeat the author line
    if strict and not _starts_body(lines, end, authors):
        return None
    return _Header(lines[i].text, authors, tuple(credits), end)


def _skip(lines: list[_Line], start: int, *texts: str) -> int:
    """The index of the first line from `start` whose text is not one of `texts`."""
    while start < len(lines) and lines[start].text in texts:
        start += 1
    return start


def _starts_body(lines: list[_Line], i: int, authors: tuple[str, ...]) -> bool:
    """Whether line `i` can open a new post's body.

    A signature line followed by the author's bio looks like a header; the bio's opening
    ("Anthony Mason is …") gives it away.
    """
    if i >= len(lines) or _COMMENT_START.fullmatch(lines[i].text):
        return False
    return not any(_is_bio(lines[i].text, name) for name in authors)


def _is_bio(text: str, name: str) -> bool:
    words = name.split()
    variants = {name, " ".join(words[1:])} if len(words) > 2 else {name}
    return any(re.match(re.escape(variant) + _BIO_VERB, text) for variant in variants)


def _is_title(text: str) -> bool:
    """Short, capitalised, not ending a sentence or introducing a list ("References:")."""
    return (
        len(text) <= TITLE_MAX
        and not text.endswith((".", ":", ";", ","))
        and not text[0].islower()
        and any(char.isalpha() for char in text)
        and not _BULLET.match(text)
        and not _URL.match(text)
        and not _PICTURE.fullmatch(text)
    )


def _authors(text: str) -> tuple[str, ...] | None:
    """The names on an author line ("Jane Doe, Director" -> ("Jane Doe",)), else None."""
    if len(text) > AUTHOR_LINE_MAX or text.endswith((".", "?", "!", ":", ";")):
        return None
    names = tuple(_AND.split(_BY.sub("", text.split(",", 1)[0]).strip()))
    return names if all(_is_name(name) for name in names) else None


def _is_name(name: str) -> bool:
    words = name.split()
    return (
        0 < len(words) <= NAME_MAX_WORDS
        and words[0][0].isupper()
        and words[-1][0].isupper()
        and all(_NAME_PARTICLE.fullmatch(word) or _is_name_word(word) for word in words)
    )


def _is_name_word(word: str) -> bool:
    return (
        word[0].isupper()
        and bool(_NAME_WORD.fullmatch(word))
        and not _NOT_NAME_WORD.fullmatch(word)
    )


def _paragraphs(lines: tuple[_Line, ...]) -> list[_Line]:
    """`lines` as separate paragraphs (a blank line after each)."""
    return [part for line in lines for part in (line, _Line("", False))]


def _render(lines: list[_Line]) -> str:
    """Paragraphs as <p>, runs of bullets (even across blank lines) as one <ul>."""
    parts = []
    for kind, group in groupby(_blocks(lines), key=lambda block: block[0]):
        texts = [_inline(" ".join(words)) for _, words in group]
        if kind == "li":
            parts.append("<ul>" + "".join(f"<li>{text}</li>" for text in texts) + "</ul>")
        else:
            parts.extend(f"<p>{text}</p>" for text in texts)
    return "\n".join(parts)


def _blocks(lines: list[_Line]) -> list[tuple[str, list[str]]]:
    """("p" | "li", its lines) per paragraph or bullet; wrapped lines continue the block."""
    blocks: list[tuple[str, list[str]]] = []
    previous = ""  # kind of the previous line of this paragraph, "" after a blank line
    for line in lines:
        bullet = _BULLET.match(line.text)
        kind, text = ("li", line.text[bullet.end() :]) if bullet else ("p", line.text)
        if not line.text:
            previous = ""
        elif kind == "p" and (previous == "p" or (previous == "li" and line.indented)):
            blocks[-1][1].append(text)
        elif text:
            blocks.append((kind, [text]))
            previous = kind
    return blocks


def _inline(text: str) -> str:
    """Escaped text with bare http(s) URLs turned into links."""
    parts = _URL.split(text)  # the capturing group puts the URLs at odd indexes
    return "".join(_link(part) if i % 2 else html.escape(part) for i, part in enumerate(parts))


def _link(url: str) -> str:
    escaped = html.escape(url)
    return f'<a href="{escaped}">{escaped}</a>'

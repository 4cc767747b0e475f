"""Plain-text blog exports: one post, or an archive page holding several posts in a row.

Plain text has no markup, so structure is read from the shape of lines. A post starts at
a short title-like line followed (after blank lines, optional picture credits and an
optional theme line) by a short name-like author line and then body text. A title with
no author line starts a post too when a standfirst follows that names the author ("X is
Director of Y. Here she reflects on …", "X from Y writes …", "As part of a series …, X
told …"), or when the page marks a new post otherwise: three blank lines before it, the
no-break space blog software puts before a title's last word, or the previous post's
ending (a bio line, references, footnotes, "Continue reading") before it. An author is
only ever read from an author line or a standfirst, never guessed. Everything else is
body. Comment-form and share-button boilerplate that blog exports carry along is
dropped, nothing else is.
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
_THEME = re.compile(r"(?:Theme|Series|Topic|Strand|Section|Category)s?: ?\S.{0,80}", re.IGNORECASE)
_HONORIFIC = r"(?:(?:Dr|Prof|Professor|Cllr|Councillor|Sir|Dame|Lord|Baroness|Mr|Mrs|Ms|Mx)\.? )?"
_CAPITALISED = r"[A-Z\u00c0-\u00d6\u00d8-\u00de][\w\u2019'.\-]*"
_NAME_SHAPE = rf"{_HONORIFIC}{_CAPITALISED}(?: {_CAPITALISED}){{1,3}}"
_STANDFIRST_VERB = (
    r"(?:is|was|has|from|of|at|writes|wrote|reflects|argues|explains|explores|discusses"
    r"|considers|examines|looks|sets|shares|describes|outlines|asks|suggests|presents"
    r"|offers|gives|takes|tells|told|talks|spoke|joins|introduces|reports|reviews)\b"
)
# "X is Director of Y. …", "X, Director of Y, writes …", "X from Y writes …"
_STANDFIRST_LEAD = re.compile(rf"({_NAME_SHAPE})(?:, [^,.]{{1,100}},)? {_STANDFIRST_VERB}")
# "As part of a series …, X told …", "In this blog, X argues …", "Here X reflects …"
_STANDFIRST_AFTER = re.compile(
    rf"(?:As part of|In this|In the|Here|Following|Ahead of|After|For|To mark|Writing)\b"
    rf"[^.]{{0,200}}?(?:,|\bblog|\bpost|\barticle|\bpiece|\bHere)"
    rf" ({_NAME_SHAPE}) {_STANDFIRST_VERB}"
)
_FOOTNOTE = re.compile(r"\[(?:[ivxlcdm]+|\d+)\]\s*\S.*", re.IGNORECASE)
_REFERENCE = re.compile(r".*\((?:19|20)\d\d[a-z]?\).*|\d{1,2}\.\s+\S.*|.*\bet al\b.*|https?://\S+")
_SECTION = re.compile(
    r"(?:References|Notes|Endnotes|Footnotes|Bibliography|Sources|Further reading"
    r"|Acknowledgements|Key findings|Recommendations|Conclusions?|Introduction)\b.{0,20}",
    re.IGNORECASE,
)
_BIO_LINE = re.compile(
    rf"{_NAME_SHAPE}(?: [A-Z]{{2,}})?,? (?:is|was|has|works|worked|leads|led|joined|graduated"
    r"|teaches|researches|chairs|sits|serves|writes)\b"
)
_SENTENCE_END = (".", "!", "?", "\u201d", '"', "\u2019", ")", "]")
# WordPress keeps a title's last word off a line of its own with a no-break space.
_NO_BREAK_END = re.compile(r"\S\xa0(?:[^\s\[\]]{1,25})?$")
_OWN_LINE_GAP = 3  # blank lines before a title that mark a new post on their own
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
    closing: bool = False  # dropped boilerplate ("Continue reading"): a post ended here
    no_break_end: bool = False  # a no-break space before the last word, as in titles


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
        dropped = bool(_BOILERPLATE.fullmatch(collapsed))
        lines.append(
            _Line(
                "" if dropped else collapsed,
                raw[:1].isspace(),
                closing=dropped,
                no_break_end=bool(_NO_BREAK_END.search(raw.rstrip(" \t\r\n"))),
            )
        )
    return lines


def _split(lines: list[_Line]) -> Iterator[tuple[_Header, list[_Line]]]:
    """Each post's header with its body lines, comment sections left out."""
    header: _Header | None = None
    body: list[_Line] = []
    in_comments = False
    i = 0
    while i < len(lines):
        found = _post_start(
            lines,
            i,
            first=header is None and not in_comments,
            authors=header.authors if header else (),
        )
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


def _post_start(
    lines: list[_Line], i: int, *, first: bool, authors: tuple[str, ...] = ()
) -> _Header | None:
    """The header starting at line `i`, if one does.

    The first post needs only a title; later ones need the full title, author, body
    shape, since a lone short line inside a post is common.
    """
    text = lines[i].text
    if not text or _COMMENT_START.fullmatch(text):
        return None
    if first:
        return _header_at(lines, i, strict=False)
    if (i == 0 or not lines[i - 1].text) and _is_title(text) and _unsigned_title(text):
        return _header_at(lines, i, strict=True, authors=authors)
    return None


def _header_at(
    lines: list[_Line], i: int, *, strict: bool, authors: tuple[str, ...] = ()
) -> _Header | None:
    """The header whose title is line `i`: title, picture credits, a theme line, then an
    author line, a standfirst naming the author, or (given a sign of a new post) text.
    `authors` are those of the post being read, whose bio would end it."""
    credits: list[_Line] = []
    k = _skip(lines, i + 1, "")
    while k < len(lines) and (
        _PICTURE.fullmatch(lines[k].text) or _is_theme(lines, k, first=not credits)
    ):
        credits.append(lines[k])
        k = _skip(lines, k + 1, "")
    signed = _authors(lines[k].text) if k < len(lines) else None
    title = lines[i].text
    if signed is not None:
        end = _skip(lines, k + 1, "", lines[k].text)  # exports often repeat the author line
        if not strict or _starts_body(lines, end, signed):
            return _Header(title, signed, tuple(credits), end)
    if k >= len(lines):
        return None if strict else _Header(title, (), tuple(credits), k)
    named = _standfirst_authors(lines[k].text)
    if named and title not in named and (not strict or _is_body(_next_text(lines, k))):
        return _Header(title, named, tuple(credits), k)
    if not strict or (_is_body(lines[k].text) and _new_post_signs(lines, i, authors)):
        return _Header(title, (), tuple(credits), k)
    return None


def _next_text(lines: list[_Line], k: int) -> str:
    """The paragraph after line `k`, "" at the end."""
    after = _skip(lines, k + 1, "")
    return lines[after].text if after < len(lines) else ""


def _is_theme(lines: list[_Line], k: int, *, first: bool) -> bool:
    """A theme or series line under a title ("Theme: Housing"), or a short heading-like
    line directly followed by an author line."""
    if not first or k >= len(lines):
        return False
    text = lines[k].text
    if _THEME.fullmatch(text):
        return True
    after = _skip(lines, k + 1, "")
    return (
        len(text) <= 60
        and _is_title(text)
        and _authors(text) is None
        and after < len(lines)
        and _authors(lines[after].text) is not None
    )


def _unsigned_title(text: str) -> bool:
    """A title that may start a later post: not a section heading, a reference or a
    footnote, and no longer than a heading."""
    return (
        len(text.split()) <= 25
        and not _SECTION.fullmatch(text)
        and not _REFERENCE.fullmatch(text)
        and not _FOOTNOTE.fullmatch(text)
    )


def _is_body(text: str) -> bool:
    """A paragraph of running text: a sentence or more, not a heading or a reference."""
    return (
        len(text) >= 60
        and (text.endswith(_SENTENCE_END) or len(text) > TITLE_MAX)
        and not _REFERENCE.fullmatch(text)
        and not _FOOTNOTE.fullmatch(text)
    )


def _new_post_signs(lines: list[_Line], i: int, authors: tuple[str, ...]) -> bool:
    """Whether the page marks line `i` as a new post's title: a title's no-break space,
    three blank lines before it, or the end of a post (a bio of one of its `authors`,
    references, footnotes, picture credit, "Continue reading") right before it."""
    if lines[i].no_break_end:
        return True
    before = i - 1
    closing = False
    while before >= 0 and not lines[before].text:
        closing = closing or lines[before].closing
        before -= 1
    if closing or i - 1 - before >= _OWN_LINE_GAP or before < 0:
        return True
    previous = lines[before].text
    return bool(
        (_BIO_LINE.match(previous) and _about(previous, authors))
        or _FOOTNOTE.fullmatch(previous)
        or _REFERENCE.fullmatch(previous)
        or _PICTURE.fullmatch(previous)
    )


def _about(bio: str, authors: tuple[str, ...]) -> bool:
    """Whether a bio line names one of `authors` (by any part of the name); any bio does
    when the post names no author."""
    opening = set(bio.split()[:5])
    return not authors or any(set(name.split()) & opening for name in authors)


def _standfirst_authors(text: str) -> tuple[str, ...] | None:
    """The author a standfirst names ("X is …", "X from Y writes …", "…, X told …")."""
    if len(text) > 600:
        return None
    for pattern in (_STANDFIRST_LEAD, _STANDFIRST_AFTER):
        found = pattern.match(text)
        if found and _is_name(found.group(1)):
            return (found.group(1),)
    return None


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

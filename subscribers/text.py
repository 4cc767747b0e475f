"""Free text from forms and files made safe for an email header: one line, no controls."""

from __future__ import annotations

import re
import unicodedata
from email.errors import HeaderParseError
from email.header import decode_header

NAME_MAX = 200
# RFC 2047 encoded words, e.g. =?UTF-8?Q?=0A?= (a newline in disguise).
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=")
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Zero-width (non-)joiners are format characters, but Persian names and emoji need them.
_JOINERS = frozenset({"\u200c", "\u200d"})


def is_control(char: str) -> bool:
    """Whether `char` could break a header or fool a reader (newlines, bidi overrides…)."""
    return char not in _JOINERS and unicodedata.category(char) in _CONTROL_CATEGORIES


def clean_text(raw: str | None, limit: int) -> str:
    """One line of at most `limit` characters: encoded words decoded, controls and runs of
    white space turned into single spaces, and no `=?` left that a mail program could
    take for the start of an encoded word (it would decode one even without its `?=`)."""
    text = "".join(" " if is_control(char) else char for char in _decode_encoded_words(raw or ""))
    return " ".join(text.replace("=?", "= ?").split())[:limit].rstrip()


def clean_name(raw: str | None) -> str:
    """A display name that can go into a To: header as it is."""
    return clean_text(raw, NAME_MAX)


def _decode_encoded_words(text: str) -> str:
    """Decode until no encoded word is left, so none survives to be decoded by a mail client.

    Every pass shortens the text (a word is longer than what it encodes), so this ends.
    """
    while (decoded := _ENCODED_WORD.sub(_decode_word, text)) != text:
        text = decoded
    return text


def _decode_word(match: re.Match[str]) -> str:
    try:
        [(data, charset)] = decode_header(match.group())
        return data.decode(charset or "ascii", errors="replace")
    except (HeaderParseError, LookupError, ValueError):
        return ""

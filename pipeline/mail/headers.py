"""Header values that cannot smuggle in extra headers, and that fit on their lines.

Post titles and subscriber names end up in Subject, From and To. A raw CR or LF there
starts a new header, and so can an RFC 2047 encoded-word that *decodes* to one: Python's
email package decodes such words while refolding (CVE-2024-6923), and it decodes a word
even without its closing `?=`. Every header value built from posts or subscribers goes
through `safe_header` first; `format_address` and `fold` keep every line within 78
characters where there is a space to fold at (the hard limit is 998 octets).
"""

from __future__ import annotations

import base64
import re
import unicodedata
from email.utils import formataddr

# As lenient as the email package's own parser: any `=?charset?Q|B?text?=`, anywhere.
_ENCODED_WORD = re.compile(r"=\?([^?]*)\?([QqBb])\?(.*?)\?=", re.DOTALL)
_QUOTED_BYTE = re.compile(rb"=([0-9A-Fa-f]{2})")
# Printable ASCII, single spaces, no encoded-word: already safe.
_PLAIN = re.compile(r"(?:[!-~]+(?: [!-~]+)*)?", re.ASCII)
# Controls, surrogates, line separators and format characters (bidi overrides and
# isolates, zero-width spaces) become spaces: dropped, they could join what they separate
# into `=?` or a `%%slot%%`. Kept: the joiners Persian names and emoji sequences need, and
# the word joiner that keeps a post's `%%` apart (see `pipeline.digest.entries.inert`).
_UNSAFE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_KEPT = frozenset({"\u200c", "\u200d", "\u2060"})
LINE_LENGTH = 78  # RFC 5322's "should"; fold() keeps to it where it can
_WORD_BYTES = 45  # UTF-8 bytes per encoded-word: `=?utf-8?b?` + 60 + `?=` is 72 characters


def safe_header(value: str) -> str:
    """`value` on one line: no control or bidi characters, no encoded-word hiding any, no
    `=?` that does not begin a harmless encoded-word, single spaces.

    Harmless encoded-words stay as they are (a display name encoded by `format_address`
    must keep its commas inside its words); suspicious ones are removed, repeatedly, so
    that removing one cannot leave another behind.
    """
    if "=?" not in value and _PLAIN.fullmatch(value):  # links, ids, plain names: nothing to do
        return value
    value = "".join(" " if _unsafe(char) else char for char in value)
    while (cleaned := _ENCODED_WORD.sub(_keep_if_harmless, value)) != value:
        value = cleaned
    return " ".join(_neutralised(value).split())


def format_address(name: str, email: str) -> str:
    """`Name <email>` on one line, both parts through `safe_header`: the name quoted as
    RFC 5322 needs if it is short ASCII, else as encoded-words of whole characters, so that
    `fold` can break the line between them."""
    name, email = safe_header(name), safe_header(email)
    plain = formataddr((name, email))
    if name.isascii() and len(plain) <= LINE_LENGTH - len("To: "):
        return plain
    return f"{' '.join(_encoded_words(name))} <{email}>"


def fold(value: str, column: int = 0) -> str:
    """A one-line ASCII `value` that starts at `column` folded at its spaces, so that no
    line is longer than LINE_LENGTH unless a single word is."""
    lines: list[str] = []
    line, room = "", LINE_LENGTH - column
    for word in value.split(" "):
        if line and len(line) + 1 + len(word) > room:
            lines.append(line)
            line, room = word, LINE_LENGTH - 1
        else:
            line = f"{line} {word}" if line else word
    return "\r\n ".join([*lines, line])


def _unsafe(char: str) -> bool:
    return unicodedata.category(char) in _UNSAFE and char not in _KEPT


def _keep_if_harmless(word: re.Match[str]) -> str:
    decoded = _decode(word)
    if decoded is None or "=?" in decoded or any(_unsafe(char) for char in decoded):
        return " "
    return word.group(0)


def _neutralised(value: str) -> str:
    """`value` with every `=?` outside its (harmless) encoded-words broken up."""
    pieces, end = [], 0
    for word in _ENCODED_WORD.finditer(value):
        pieces += [value[end : word.start()].replace("=?", "= ?"), word.group(0)]
        end = word.end()
    return "".join([*pieces, value[end:].replace("=?", "= ?")])


def _decode(word: re.Match[str]) -> str | None:
    """The text an encoded-word stands for, decoded as strictly as the email package's first
    attempt, or None if it is malformed (a lenient decoder might read it differently)."""
    charset, encoding, text = word.groups()
    try:
        data = text.encode("ascii")
        if encoding in "Qq":
            raw = _QUOTED_BYTE.sub(
                lambda byte: bytes.fromhex(byte[1].decode()), data.replace(b"_", b" ")
            )
        else:
            raw = base64.b64decode(data + b"=" * (-len(data) % 4), validate=True)
        return raw.decode(charset.partition("*")[0])  # RFC 2231 allows `charset*language`
    except (ValueError, LookupError):
        return None


def _encoded_words(text: str) -> list[str]:
    """`text` as base64 encoded-words of at most _WORD_BYTES each, never splitting a
    character (adjacent words are joined again when read, the space between them dropped)."""
    chunks: list[bytes] = [b""]
    for char in text:
        data = char.encode("utf-8")
        if len(chunks[-1]) + len(data) > _WORD_BYTES:
            chunks.append(b"")
        chunks[-1] += data
    return [f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?=" for chunk in chunks]

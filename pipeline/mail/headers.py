"""Header values that cannot smuggle in extra headers.

Post titles and subscriber names end up in Subject, From and To. A raw CR or LF there
starts a new header, and so can an RFC 2047 encoded-word that *decodes* to one: Python's
email package decodes such words while refolding (CVE-2024-6923). Every header value built
from posts or subscribers goes through `safe_header` first.
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
_BREAKING = frozenset({"Cc", "Zl", "Zp"})  # control characters, line and paragraph separators


def safe_header(value: str) -> str:
    """`value` on one line: no control characters, no encoded-words hiding any, single spaces.

    Harmless encoded-words stay as they are (a display name encoded by `formataddr` must keep
    its commas inside one word); suspicious ones are removed, repeatedly, so that removing one
    cannot leave another behind.
    """
    if "=?" not in value and _PLAIN.fullmatch(value):  # links, ids, plain names: nothing to do
        return value
    value = "".join(" " if _breaks(char) else char for char in value)
    while (cleaned := _ENCODED_WORD.sub(_keep_if_harmless, value)) != value:
        value = cleaned
    return " ".join(value.split())


def format_address(name: str, email: str) -> str:
    """`Name <email>`, quoted or encoded as RFC 5322 needs, both parts through `safe_header`."""
    return formataddr((safe_header(name), safe_header(email)))


def _breaks(char: str) -> bool:
    return unicodedata.category(char) in _BREAKING


def _keep_if_harmless(word: re.Match[str]) -> str:
    decoded = _decode(word)
    if decoded is None or "=?" in decoded or any(_breaks(char) for char in decoded):
        return " "
    return word.group(0)


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

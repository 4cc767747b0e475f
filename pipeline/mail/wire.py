"""A message's bytes as the DATA command carries them (RFC 5321 4.5.2 and 2.3.8).

On the wire every line ends in CRLF, a line that starts with "." gets a second one (the
server takes one away again), and "." alone on a line ends the message. Templates
prepare their shared bytes this way once (`pipeline.mail.template`); `data_payload` is
for bytes that come from anywhere else.
"""

from __future__ import annotations

import re

TERMINATOR = b".\r\n"
_LINE_END = re.compile(rb"\r\n|\r|\n")


def stuffed(data: bytes, *, line_start: bool = True) -> bytes:
    """`data` (CRLF line ends) with a "." added before each line's leading "."; with
    `line_start=False` its first byte continues a line begun elsewhere."""
    data = data.replace(b"\n.", b"\n..")
    return b"." + data if line_start and data.startswith(b".") else data


def data_payload(raw: bytes) -> bytes:
    """`raw`, with any line ends, as DATA carries it: CRLF, dot-stuffed, terminated."""
    if not raw.count(b"\r") == raw.count(b"\n") == raw.count(b"\r\n"):
        raw = _LINE_END.sub(b"\r\n", raw)
    payload = stuffed(raw)
    return payload + (TERMINATOR if payload.endswith(b"\r\n") else b"\r\n" + TERMINATOR)

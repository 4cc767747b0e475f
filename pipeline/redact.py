"""Hiding the passwords that URLs carry (DATABASE_URL, BROKER_URL, a source's URL) wherever
text is shown: `config check`, the admin's settings page, ingest errors, log lines.

One function for a lone URL and for free text that mentions URLs: the password of
`scheme://user:password@host` and the value of a secret-looking query parameter
(`?password=…`, `&token=…`) become MASK; everything else stays readable.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "********"
# The password runs to the last @ before the path: an unencoded @ in it hides no part.
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:)[^\s/]+@")
_QUERY = re.compile(
    r"(?P<head>[?&](?:password|passwd|pass|pwd|secret|token|api_?key|key)=)[^&#\s]+",
    re.IGNORECASE,
)


def redacted_values(value: Any) -> Any:
    """A JSON-like value with `redacted` applied to every string in it."""
    if isinstance(value, str):
        return redacted(value)
    if isinstance(value, list):
        return [redacted_values(item) for item in value]
    if isinstance(value, dict):
        return {key: redacted_values(item) for key, item in value.items()}
    return value


def redacted(text: str) -> str:
    """`text` with every URL's password and secret query values replaced by MASK."""
    text = _USERINFO.sub(lambda match: f"{match['head']}{MASK}@", text)
    return _QUERY.sub(lambda match: f"{match['head']}{MASK}", text)


class RedactingFilter(logging.Filter):
    """A handler filter that redacts a record's message and traceback before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redacted(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redacted(record.exc_text)
        return True

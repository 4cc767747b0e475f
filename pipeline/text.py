"""Text made safe for a place: slugs for URLs and file names, used by sources, feeds,
pages and the post store alike."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_NON_WORD = re.compile(r"[^a-z0-9]+")


def slugify(text: str, *, max_length: int = 80) -> str:
    """A URL-safe ASCII slug cut at a word boundary; non-Latin titles fall back to a short
    hash so it is never empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _NON_WORD.sub("-", ascii_text.lower()).strip("-")
    if len(slug) > max_length:
        cut = slug[: max_length + 1]
        slug = cut.rsplit("-", 1)[0] if "-" in cut else slug[:max_length]
    return slug or "post-" + hashlib.sha256(text.encode()).hexdigest()[:10]


def former_slugify(text: str, *, max_length: int = 80) -> str:
    """The slug `slugify` gave before it cut at a word boundary: the first `max_length`
    characters, whatever word that split."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _NON_WORD.sub("-", ascii_text.lower()).strip("-")[:max_length].strip("-")
    return slug or "post-" + hashlib.sha256(text.encode()).hexdigest()[:10]

"""Where a post is read (its own web address, or its page on this site), and its lead
image.

Posts from elsewhere keep their absolute http(s) URL. The site's own posts are stored as
a path and made absolute from SITE_URL when rendered, so changing SITE_URL moves every
feed, page and digest link with it. Nothing but http(s) is ever published: a
`javascript:` or `data:` URL from a source falls back to the post's page here.
"""

from __future__ import annotations

import html
import re
from typing import TypeGuard

WEB_SCHEMES = ("https://", "http://")
_IMAGE = re.compile(r"<img\b[^>]*>", re.IGNORECASE)


def is_web_url(url: str | None) -> TypeGuard[str]:
    """Whether `url` is an absolute http(s) URL."""
    return url is not None and url.strip().lower().startswith(WEB_SCHEMES)


def own_path(slug: str) -> str:
    """The path of a post's page on this site."""
    return f"/posts/{slug}"


def stored_url(url: str | None, slug: str) -> str:
    """What ingest stores: the source's http(s) URL, else the post's own path."""
    return url.strip() if url is not None and is_web_url(url) else own_path(slug)


def lead_image(given: str | None, content_html: str) -> tuple[str | None, str | None]:
    """A post's lead image and its alt text: the source's own (an enclosure or
    media:content), else the first http(s) image in its (sanitised) content."""
    if given is not None and is_web_url(given):
        return given.strip(), ""
    for found in _IMAGE.finditer(content_html):
        src = _attribute(found.group(0), "src")
        if src is not None and is_web_url(src):
            return src, _attribute(found.group(0), "alt") or ""
    return None, None


def _attribute(tag: str, name: str) -> str | None:
    found = re.search(rf'\s{name}="([^"]*)"', tag)
    return html.unescape(found.group(1)) if found else None


def post_url(url: str, slug: str, base_url: str) -> str:
    """The absolute address to publish for a post stored with `url` (see `stored_url`)."""
    return url if is_web_url(url) else base_url + own_path(slug)

"""Where a post is read: its own web address, or its page on this site.

Posts from elsewhere keep their absolute http(s) URL. The site's own posts are stored as
a path and made absolute from SITE_URL when rendered, so changing SITE_URL moves every
feed, page and digest link with it. Nothing but http(s) is ever published: a
`javascript:` or `data:` URL from a source falls back to the post's page here.
"""

from __future__ import annotations

WEB_SCHEMES = ("https://", "http://")


def is_web_url(url: str | None) -> bool:
    """Whether `url` is an absolute http(s) URL."""
    return url is not None and url.strip().lower().startswith(WEB_SCHEMES)


def own_path(slug: str) -> str:
    """The path of a post's page on this site."""
    return f"/posts/{slug}"


def stored_url(url: str | None, slug: str) -> str:
    """What ingest stores: the source's http(s) URL, else the post's own path."""
    return url.strip() if url is not None and is_web_url(url) else own_path(slug)


def post_url(url: str, slug: str, base_url: str) -> str:
    """The absolute address to publish for a post stored with `url` (see `stored_url`)."""
    return url if is_web_url(url) else base_url + own_path(slug)

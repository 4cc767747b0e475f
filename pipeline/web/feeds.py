"""Serving the feed files that `newsletter feeds build` writes into FEEDS_DIR.

Only the three feed file names are served, at the site root and under `tags/<slug>/` and
`authors/<slug>/`; nothing else in the folder is reachable. A conditional GET costs one
`stat` and a cached lookup, and a body is always read from one open file, so a feed
replaced mid-request (the builder writes a temp file and `os.replace`s it) is served
whole, old or new, with the validators of the version sent.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from email.utils import formatdate, mktime_tz, parsedate_tz
from functools import lru_cache, partial
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

CACHE_CONTROL = "public, max-age=300"
GROUPS = ("tags", "authors")
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,199}")
_MISSING_FILE = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


@dataclass(frozen=True)
class FeedFormat:
    """One of the feed files: its name in FEEDS_DIR, what readers call it, its media type."""

    file: str
    label: str
    media_type: str


FORMATS = (
    FeedFormat("feed.xml", "RSS", "application/rss+xml"),
    FeedFormat("atom.xml", "Atom", "application/atom+xml"),
    FeedFormat("feed.json", "JSON Feed", "application/feed+json"),
)
_BY_FILE = {fmt.file: fmt for fmt in FORMATS}


@dataclass(frozen=True)
class Version:
    """The validators of one version of a file, ready to compare and to send."""

    entity_tag: str
    modified: int
    headers: dict[str, str]


def feed_routes(feeds_dir: Path) -> list[BaseRoute]:
    """Routes for the feed files in `feeds_dir`, each at its fixed URL."""
    site: list[BaseRoute] = [
        Route(f"/{fmt.file}", partial(send_feed, feeds_dir / fmt.file, fmt), methods=["GET"])
        for fmt in FORMATS
    ]
    grouped = [
        Route(
            f"/{group}/{{slug}}/{{file}}",
            partial(_grouped_feed, feeds_dir / group),
            methods=["GET"],
        )
        for group in GROUPS
    ]
    return site + grouped


async def _grouped_feed(folder: Path, request: Request) -> Response:
    """A tag's or author's feed; slugs are single safe path segments, never `..`."""
    fmt = _BY_FILE.get(request.path_params["file"])
    slug = request.path_params["slug"]
    if fmt is None or not _SLUG.fullmatch(slug):
        raise HTTPException(404)
    return await send_feed(folder / slug / fmt.file, fmt, request)


async def send_feed(path: Path, fmt: FeedFormat, request: Request) -> Response:
    """The file at `path`, 304 when the reader's copy is current, or 404 with a hint."""
    try:
        current = version_of(path.stat())
        if _fresh(request.headers, current):
            return Response(status_code=304, headers=current.headers)
        body, version = await run_in_threadpool(_read, path)
    except _MISSING_FILE:
        return PlainTextResponse(
            f"{request.url.path} has not been built: run `newsletter feeds build`.\n", 404
        )
    media_type = f"{fmt.media_type}; charset=utf-8"
    return Response(body, headers=version.headers, media_type=media_type)


def version_of(stat: os.stat_result) -> Version:
    """The validators of the file `stat` describes (a new inode, size or mtime is a new one)."""
    return _version(stat.st_ino, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=1024)
def _version(inode: int, size: int, mtime_ns: int) -> Version:
    # Weak: the same tag covers the gzip-encoded and the identity representation.
    entity_tag = f'"{inode:x}-{size:x}-{mtime_ns:x}"'
    modified = mtime_ns // 1_000_000_000
    headers = {
        "ETag": f"W/{entity_tag}",
        "Last-Modified": formatdate(modified, usegmt=True),
        "Cache-Control": CACHE_CONTROL,
    }
    return Version(entity_tag, modified, headers)


def _read(path: Path) -> tuple[bytes, Version]:
    """Body and validators from one open file, so they always belong together."""
    with path.open("rb") as file:
        return file.read(), version_of(os.fstat(file.fileno()))


def _fresh(headers: Headers, version: Version) -> bool:
    """Whether the reader's copy is current (RFC 9110 13.2.2: If-None-Match wins)."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return version.entity_tag in tags or "*" in tags
    since = headers.get("if-modified-since")
    return since is not None and version.modified <= _http_date(since)


@lru_cache(maxsize=256)
def _http_date(value: str) -> float:
    """Seconds since the epoch, or -inf for a date that does not parse (never fresh)."""
    parsed = parsedate_tz(value)
    return float("-inf") if parsed is None else mktime_tz(parsed)

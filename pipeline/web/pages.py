"""The HTML pages: recent posts on the home page, every post in pages, one page per
post, per tag and per author (where their feeds' home_page_url points), and the 404."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

import jinja2
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from pipeline.digest.entries import long_date
from pipeline.links import post_url
from pipeline.settings import Settings
from pipeline.storage.posts import (
    count_published,
    group_of,
    posts_by_id,
    published_post,
    published_posts,
)
from pipeline.text import slugify
from pipeline.web.feeds import FORMATS
from pipeline.web.state import web_state
from subscribers.profile import timezone_names

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
RECENT_POSTS = 20
PAGE_SIZE = 20
_GROUP_LABELS = {"tags": "Posts tagged", "authors": "Posts by"}

router = APIRouter(default_response_class=HTMLResponse)


@dataclass(frozen=True)
class FeedLink:
    """A feed as pages link to it: in `<link rel="alternate">` and in visible links."""

    title: str
    label: str
    media_type: str
    href: str


def feed_links(base_url: str, title: str) -> list[FeedLink]:
    """The RSS, Atom and JSON Feed links of the feeds under `base_url` (absolute, from SITE_URL)."""
    return [
        FeedLink(f"{title} ({fmt.label})", fmt.label, fmt.media_type, f"{base_url}/{fmt.file}")
        for fmt in FORMATS
    ]


def page_templates(settings: Settings) -> Jinja2Templates:
    """The page templates, autoescaped, with the site's metadata and its feeds as globals."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["site"] = {
        "title": settings.site_title,
        "description": settings.site_description,
        "language": settings.language,
        "feeds": feed_links(settings.base_url, settings.site_title),
    }
    env.globals.update(timezones=timezone_names(), default_timezone=settings.timezone)
    env.filters["day"] = partial(long_date, zone=settings.zone)
    env.filters["iso"] = _iso
    env.filters["slug"] = slugify
    return Jinja2Templates(env=env)


def _iso(moment: datetime) -> str:
    """A valid HTML `<time datetime>`: to the second, with its offset."""
    return moment.isoformat(timespec="seconds")


@router.get("/")
def home(request: Request) -> HTMLResponse:
    """The most recent published posts, the site's feeds and the subscribe form."""
    posts = published_posts(web_state(request).db, limit=RECENT_POSTS)
    return web_state(request).templates.TemplateResponse(request, "home.html", {"posts": posts})


@dataclass(frozen=True)
class Paging:
    """Where a page of a list stands: its number, the last page's, and their links."""

    number: int
    last: int
    path: str

    @property
    def previous(self) -> str | None:
        return self._link(self.number - 1) if self.number > 1 else None

    @property
    def next(self) -> str | None:
        return self._link(self.number + 1) if self.number < self.last else None

    def _link(self, number: int) -> str:
        return self.path if number == 1 else f"{self.path}?page={number}"


def paging_of(request: Request, total: int, path: str) -> Paging:
    """This request's page of `total` items; 404 for a page past the end or not a number."""
    raw = request.query_params.get("page", "1")
    last = max(1, -(-total // PAGE_SIZE))
    if not raw.isdigit() or not 1 <= int(raw) <= last:
        raise HTTPException(404)
    return Paging(int(raw), last, path)


@router.get("/posts")
def all_posts(request: Request) -> HTMLResponse:
    """Every published post, newest first, PAGE_SIZE a page."""
    db = web_state(request).db
    paging = paging_of(request, count_published(db), "/posts")
    posts = published_posts(db, limit=PAGE_SIZE, offset=(paging.number - 1) * PAGE_SIZE)
    context = {"heading": "All posts", "posts": posts, "paging": paging, "feeds": None}
    return web_state(request).templates.TemplateResponse(request, "archive.html", context)


@router.get("/tags/{slug}")
def tag_page(request: Request, slug: str) -> HTMLResponse:
    """The posts of one tag, with its feeds."""
    return _group_page(request, "tags", slug)


@router.get("/authors/{slug}")
def author_page(request: Request, slug: str) -> HTMLResponse:
    """The posts of one author, with their feeds."""
    return _group_page(request, "authors", slug)


def _group_page(request: Request, kind: str, slug: str) -> HTMLResponse:
    db, settings = web_state(request).db, web_state(request).settings
    group = group_of(db, kind, slug)
    if group is None:
        raise HTTPException(404)
    path = f"/{kind}/{slug}"
    paging = paging_of(request, len(group.ids), path)
    start = (paging.number - 1) * PAGE_SIZE
    feeds = feed_links(f"{settings.base_url}{path}", f"{settings.site_title}: {group.name}")
    context = {
        "heading": f"{_GROUP_LABELS[kind]} {group.name}",
        "posts": posts_by_id(db, group.ids[start : start + PAGE_SIZE]),
        "paging": paging,
        "feeds": feeds,
    }
    return web_state(request).templates.TemplateResponse(request, "archive.html", context)


@router.get("/posts/{slug}")
def post_page(request: Request, slug: str) -> HTMLResponse:
    """One published post with feeds for its tags; drafts and removed posts are not found."""
    post = published_post(web_state(request).db, slug)
    if post is None:
        raise HTTPException(404)
    settings = web_state(request).settings
    topics = {
        tag: feed_links(f"{settings.base_url}/tags/{slugify(tag)}", f"{settings.site_title}: {tag}")
        for tag in post.tags
    }
    url = post_url(post.url, post.slug, settings.base_url)
    context = {"post": post, "url": url, "topics": topics}
    return web_state(request).templates.TemplateResponse(request, "post.html", context)


async def not_found(request: Request, _exc: Exception) -> HTMLResponse:
    """The 404 page for any unknown address, draft or removed post."""
    context = {
        "heading": "Page not found",
        "message": "There is nothing here. The post may have been moved or withdrawn.",
    }
    return web_state(request).templates.TemplateResponse(
        request, "base.html", context, status_code=404
    )

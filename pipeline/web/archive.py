"""The mail archive on the site: `/archive` lists every mail that went out, newest first,
in pages; `/archive/atom.xml` is the same list as an Atom feed; each mail's page is the
mail as it was sent, with no personal link (see `pipeline.archive`)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from feedgen.feed import FeedGenerator

from pipeline.archive import count_entries, find_entry, latest_entries
from pipeline.feeds.rss_atom import ATOM_TYPE, GENERATOR
from pipeline.web.pages import PAGE_SIZE, paging_of
from pipeline.web.state import web_state

FEED_ENTRIES = 20
KIND_LABELS = {"digest": "Digest", "post": "New post", "broadcast": "Letter"}
# A sent mail styles itself inline and loads its images from anywhere; it runs nothing.
MAIL_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)

router = APIRouter()


@router.get("/archive", response_class=HTMLResponse)
def archive(request: Request) -> HTMLResponse:
    """Every mail that went out, newest first, PAGE_SIZE a page."""
    db = web_state(request).db
    paging = paging_of(request, count_entries(db), "/archive")
    entries = latest_entries(db, limit=PAGE_SIZE, offset=(paging.number - 1) * PAGE_SIZE)
    context = {
        "heading": "Newsletter archive",
        "entries": entries,
        "labels": KIND_LABELS,
        "paging": paging,
    }
    return web_state(request).templates.TemplateResponse(request, "mail_archive.html", context)


@router.get("/archive/atom.xml")
def archive_feed(request: Request) -> Response:
    """The newest FEED_ENTRIES mails as Atom, each linking to its page."""
    settings = web_state(request).settings
    entries = latest_entries(web_state(request).db, limit=FEED_ENTRIES)
    base = settings.base_url
    feed = FeedGenerator()
    feed.id(f"{base}/archive/atom.xml")
    feed.title(f"{settings.site_title}: newsletter archive")
    feed.author({"name": settings.site_title})
    feed.language(settings.language)
    feed.generator(GENERATOR)
    feed.link(href=f"{base}/archive/atom.xml", rel="self", type=ATOM_TYPE)
    feed.link(href=f"{base}/archive", rel="alternate", type="text/html")
    feed.updated(entries[0].published_at if entries else datetime(1970, 1, 1, tzinfo=UTC))
    for entry in reversed(entries):  # feedgen puts the last added first
        item = feed.add_entry()
        item.id(base + entry.path)
        item.title(entry.subject)
        item.link(href=base + entry.path, rel="alternate", type="text/html")
        item.updated(entry.published_at)
        item.published(entry.published_at)
        label = KIND_LABELS.get(entry.kind, entry.kind)
        item.summary(f"{label} sent {entry.published_at:%Y-%m-%d}")
    return Response(feed.atom_str(pretty=True), media_type=ATOM_TYPE)


@router.get("/archive/{frequency}/{period}", response_class=HTMLResponse)
def archived_mail(request: Request, frequency: str, period: str) -> HTMLResponse:
    """One mail as it went out, without anyone's links; 404 until its first copy is sent."""
    html = find_entry(web_state(request).db, frequency, period)
    if html is None:
        raise HTTPException(404)
    return HTMLResponse(html, headers={"Content-Security-Policy": MAIL_POLICY})

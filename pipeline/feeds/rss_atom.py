"""RSS 2.0 and Atom 1.0 with feedgen, made reproducible.

feedgen stamps `lastBuildDate`/`updated` with the clock and names its own version as
generator; both are overridden so that the same posts always give the same bytes.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Sequence
from functools import partial
from html import escape
from urllib.parse import quote, urlsplit

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from pipeline.feeds.model import Channel, FeedItem, feed_updated

GENERATOR = "newsletter-pipeline"
RSS_TYPE = "application/rss+xml"
ATOM_TYPE = "application/atom+xml"
_ATOM_NS = "http://www.w3.org/2005/Atom"
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+$")


def render_rss(channel: Channel, items: Sequence[FeedItem]) -> bytes:
    """The channel as RSS 2.0, full content in `content:encoded`, authors as `dc:creator`."""
    return _hex_references(_generator(channel, items, rss=True).rss_str(pretty=True))


def render_atom(channel: Channel, items: Sequence[FeedItem]) -> bytes:
    """The channel as Atom 1.0."""
    return _generator(channel, items, rss=False).atom_str(pretty=True)


def _hex_references(xml: bytes) -> bytes:
    """`&` and `<` as `&#x26;` and `&#x3C;`, as the RSS Profile asks of RSS 2.0 text.

    Readers differ on whether an RSS title holds text or HTML; hexadecimal references
    are the form they all decode to the same text. lxml writes `&amp;` and `&lt;` only
    as escapes, so swapping the tokens leaves the document's meaning untouched.
    """
    return xml.replace(b"&amp;", b"&#x26;").replace(b"&lt;", b"&#x3C;")


def image_type(url: str) -> str:
    """The media type of an image URL by its extension (JPEG when it has none we know)."""
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed if guessed and guessed.startswith("image/") else "image/jpeg"


def atom_id(guid: str) -> str:
    """The guid itself when it is a URI (as Atom requires of ids), else a URN made from it.

    RSS and JSON Feed take any string, so they carry the guid unchanged.
    """
    return guid if _URI.match(guid) else "urn:newsletter:guid:" + quote(guid, safe="")


def _generator(channel: Channel, items: Sequence[FeedItem], *, rss: bool) -> FeedGenerator:
    """feedgen's model of the channel; a few fields differ between the two formats."""
    filename, media_type = ("feed.xml", RSS_TYPE) if rss else ("atom.xml", ATOM_TYPE)
    feed = FeedGenerator()
    feed.load_extension("dc", atom=False, rss=True)
    feed.register_extension("lead_image", BaseExtension, _LeadImage, atom=True, rss=False)
    if channel.hub:
        feed.register_extension("websub", partial(_HubLink, channel.hub), atom=True, rss=True)
    feed.id(channel.url("atom.xml"))
    feed.title(channel.title)
    feed.description(channel.description)
    feed.author({"name": channel.author})
    feed.language(channel.language)
    feed.generator(GENERATOR)
    feed.updated(feed_updated(items))
    # RSS takes the last link as its <link>, so the page comes after the self link.
    feed.link(href=channel.url(filename), rel="self", type=media_type)
    feed.link(href=channel.home_url, rel="alternate", type="text/html")
    if not rss and channel.favicon:
        feed.icon(channel.favicon)
    if not rss and channel.icon:
        feed.logo(channel.icon)
    for item in items:
        _add_entry(feed, channel, item, rss=rss)
    return feed


def _add_entry(feed: FeedGenerator, channel: Channel, item: FeedItem, *, rss: bool) -> None:
    entry = feed.add_entry(order="append")
    entry.guid(item.guid if rss else atom_id(item.guid), permalink=False)
    entry.title(item.title)
    entry.link(href=item.url, rel="alternate", type="text/html")
    entry.published(item.published)
    entry.updated(item.updated)
    authors = channel.authors_of(item)
    entry.author([{"name": name} for name in authors])
    entry.dc.dc_creator(list(authors))
    if item.tags:
        entry.category([{"term": tag} for tag in item.tags])
    if item.summary:
        # An RSS description is HTML; Atom's summary is declared plain text.
        entry.summary(escape(item.summary, quote=False) if rss else item.summary)
    if item.content_html:
        entry.content(item.content_html, type="html")
    if item.image and rss:
        entry.enclosure(item.image, "0", image_type(item.image))  # size unknown: "0"
    elif item.image:
        entry.lead_image.image = item.image


class _LeadImage(BaseEntryExtension):
    """An Atom entry's lead image as `<link rel="enclosure">` (feedgen writes Atom links
    without their rel, which would make it a second alternate link)."""

    def __init__(self) -> None:
        self.image: str | None = None

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        if self.image:
            etree.SubElement(
                entry, "link", href=self.image, rel="enclosure", type=image_type(self.image)
            )
        return entry


class _HubLink(BaseExtension):
    """`<link rel="hub">` (WebSub discovery) in Atom, and as `atom:link` in RSS."""

    def __init__(self, hub: str) -> None:
        self.hub = hub

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        # feedgen declares Atom's namespace as a plain attribute: its elements are unqualified.
        etree.SubElement(feed, "link", href=self.hub, rel="hub")
        return feed

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        etree.SubElement(feed[0], f"{{{_ATOM_NS}}}link", href=self.hub, rel="hub")
        return feed

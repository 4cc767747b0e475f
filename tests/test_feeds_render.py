"""The three renderers on their own: text round-trips exactly, ids, odd characters."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.feeds.jsonfeed import render_json
from pipeline.feeds.model import EPOCH, Channel, FeedItem
from pipeline.feeds.rss_atom import atom_id, render_atom, render_rss

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
TRICKY = [
    "Councils & health boards",
    "a < b && c > d",
    "<script>alert('x')</script>",
    "&amp; is already escaped",
    "\"Double\" and 'single' quotes",
    "Emoji 🏛️📬 and ✓",
    "שלום עולם — Hebrew",
    "مرحبا بالعالم",
    "Mixed עברית and English ‏(RTL mark)",
    "]]> ends CDATA",
]


def channel(title: str = "Site & <Co>", hub: str | None = None) -> Channel:
    return Channel(
        path="",
        title=title,
        description="Notes & <asides>",
        home_url="https://blog.example.org/",
        base_url="https://blog.example.org",
        language="en",
        author="Site & <Co>",
        hub=hub,
    )


def item(title: str, number: int = 0, **changes: object) -> FeedItem:
    row = {
        "guid": f"https://blog.example.org/posts/{number}",
        "url": f"https://blog.example.org/posts/{number}",
        "slug": str(number),
        "title": title,
        "summary": title,
        "content_html": f"<p>{number} &amp; more</p>",
        "published": WHEN,
        "updated": WHEN,
        "authors": [title],
        "tags": [title],
        "image": None,
        "image_alt": None,
    } | changes
    return FeedItem.from_row(SimpleNamespace(**row), "https://blog.example.org")


def read_all(feed: Channel, items: list[FeedItem]) -> dict[str, dict]:
    """Each format parsed back: feedparser for XML, json for JSON Feed."""
    parsed = {}
    for name, render in (("rss", render_rss), ("atom", render_atom)):
        document = feedparser.parse(render(feed, items))
        assert document.bozo == 0, document.get("bozo_exception")
        parsed[name] = document
    parsed["json"] = json.loads(render_json(feed, items))
    return parsed


def looks_double_encoded(text: str) -> bool:
    """Whether feedparser would "repair" `text` as UTF-8 misread as Latin-1 ("Â¡" -> "¡"),
    a guess of the reader's that no feed can prevent."""
    try:
        return text.encode("latin-1").decode("utf-8") != text
    except UnicodeError:
        return False


def titles(parsed: dict[str, dict]) -> dict[str, list[str]]:
    return {
        "rss": [entry.title for entry in parsed["rss"].entries],
        "atom": [entry.title for entry in parsed["atom"].entries],
        "json": [entry["title"] for entry in parsed["json"]["items"]],
    }


def test_tricky_titles_round_trip_exactly() -> None:
    items = [item(title, number) for number, title in enumerate(TRICKY)]
    parsed = read_all(channel(TRICKY[0]), items)
    assert titles(parsed) == {"rss": TRICKY, "atom": TRICKY, "json": TRICKY}
    assert parsed["rss"].feed.title == parsed["atom"].feed.title == TRICKY[0]
    atom = parsed["atom"]
    assert [entry.summary for entry in atom.entries] == TRICKY
    assert [[tag.term for tag in entry.tags] for entry in atom.entries] == [[t] for t in TRICKY]
    assert [entry.author for entry in atom.entries] == TRICKY
    assert [entry["summary"] for entry in parsed["json"]["items"]] == TRICKY


def test_rss_description_is_the_summary_as_html() -> None:
    [entry] = read_all(channel(), [item("a < b & <i>c</i>")])["rss"].entries
    assert entry.summary == "a &lt; b &amp; &lt;i&gt;c&lt;/i&gt;"  # shows as the text
    assert entry.content[0].value == "<p>0 &amp; more</p>"


def test_rss_text_uses_hexadecimal_references() -> None:
    """The RSS Profile's advice, which the W3C validator checks: readers that take RSS text
    for HTML and those that do not all decode these the same way."""
    rss = render_rss(channel(), [item("R&D <3")])
    assert b"<title>R&#x26;D &#x3C;3</title>" in rss
    assert b"&amp;" not in rss and b"&lt;" not in rss


@settings(max_examples=60, deadline=None)
@given(
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40)
    .map(str.strip)  # ingest stores titles stripped, as feed readers show them
    .filter(bool)
    .filter(lambda title: not looks_double_encoded(title))
)
def test_any_printable_title_round_trips(title: str) -> None:
    parsed = read_all(channel(title), [item(title)])
    assert titles(parsed) == {"rss": [title], "atom": [title], "json": [title]}


def test_characters_xml_cannot_carry_are_dropped_everywhere() -> None:
    parsed = read_all(channel(), [item("Bell\x07 and\x00 nul\ufffe")])
    assert titles(parsed) == {key: ["Bell and nul"] for key in ("rss", "atom", "json")}


def test_ids_are_the_guids_and_atom_gets_a_uri() -> None:
    guids = ["https://blog.example.org/?p=12", "tag:example.org,2026:1", "1234 at wordpress"]
    items = [item(f"Post {n}", n, guid=guid) for n, guid in enumerate(guids)]
    parsed = read_all(channel(), items)
    assert [entry.id for entry in parsed["rss"].entries] == guids
    assert [entry["id"] for entry in parsed["json"]["items"]] == guids
    assert [entry.id for entry in parsed["atom"].entries] == [
        guids[0],
        guids[1],
        "urn:newsletter:guid:1234%20at%20wordpress",
    ]
    assert atom_id(guids[2]) == atom_id(guids[2])  # derived, never random


@pytest.mark.parametrize("render", [render_rss, render_atom, render_json])
def test_rendering_is_deterministic(render) -> None:
    items = [item(title, number) for number, title in enumerate(TRICKY)]
    assert render(channel(hub="https://hub.example/"), items) == render(
        channel(hub="https://hub.example/"), items
    )


def test_empty_feed_is_dated_at_the_epoch() -> None:
    parsed = read_all(channel(), [])
    assert parsed["atom"].feed.updated == EPOCH.isoformat()
    assert parsed["rss"].entries == [] and parsed["json"]["items"] == []


def test_dates_are_shown_to_the_second_in_utc() -> None:
    local = datetime(2026, 3, 4, 6, 6, 7, 123456).astimezone()
    [entry] = read_all(channel(), [item("t", published=local, updated=local)])["json"]["items"]
    expected = local.astimezone(UTC).replace(microsecond=0).isoformat()
    assert entry["date_published"] == entry["date_modified"] == expected

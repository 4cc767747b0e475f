"""Every feed (the site's, each tag's and each author's; RSS and Atom) passes the W3C feed
validator with no error or warning, for the bundled content plus posts with awkward text:
markup and `&` in titles, non-ASCII, control characters and bidi overrides, a role after
an author's name, a lead image.

The validator is not a dependency: point NEWSLETTER_TEST_FEEDVALIDATOR at the `src` folder
of a checkout of https://github.com/w3c/feedvalidator (it needs html5lib and lxml).
JSON Feed is outside what it reads; tests/test_feeds.py checks those.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from pipeline.feeds import build_feeds
from pipeline.ingest import ingest
from pipeline.settings import load_settings
from pipeline.storage import Database

VALIDATOR = os.environ.get("NEWSLETTER_TEST_FEEDVALIDATOR")
CONTENT = Path(__file__).resolve().parent.parent / "content"
SITE = "https://blog.example.org"
# As the web app serves them.
MEDIA_TYPES = {
    "feed.xml": "application/rss+xml; charset=utf-8",
    "atom.xml": "application/atom+xml; charset=utf-8",
}
AWKWARD_MARKDOWN = """---
title: "Fish & chips <b>not bold</b> \\u202ecrème brûlée\\x07 — “quoted” <script>x</script>"
date: 2026-11-01T09:00:00+01:00
author: "Dr Zoë Ó Briain OBE"
tags: [Food & Drink, "Café Culture", "<i>Markup</i>"]
---
Picture credit: https://pics.example/1

The first paragraph has & ampersands, <em>emphasis</em>, “ø”, ünïcödé and a bell\x07 here.

<img src="https://pics.example/lead.jpg?a=1&b=2" alt="A lead & image">
"""
AWKWARD_ARCHIVE = (
    "Tom & Jerry <em>revisited</em>: 10 < 20 \u2066isolated\u2069\n\n"
    "Prof Łukasz Żółć, Senior Associate INLOGOV\n\n"
    "Body with <angle brackets> & ampersands\x0b and a form feed\x0c.\n"
)


def validator() -> Any:
    if not VALIDATOR or not (Path(VALIDATOR) / "feedvalidator").is_dir():
        pytest.skip("NEWSLETTER_TEST_FEEDVALIDATOR does not point at feedvalidator's src folder")
    sys.path.insert(0, VALIDATOR)
    try:
        import feedvalidator
    finally:
        sys.path.remove(VALIDATOR)
    return feedvalidator


def problems(feedvalidator: Any, path: Path, url: str) -> list[str]:
    """The validator's errors and warnings ("AA": what validator.w3.org/feed shows)."""
    from feedvalidator import compatibility
    from feedvalidator.formatter.text_plain import Formatter

    with path.open("rb") as stream:
        try:
            events = feedvalidator.validateStream(
                stream, firstOccurrenceOnly=1, contentType=MEDIA_TYPES[path.name], base=url
            )["loggedEvents"]
        except feedvalidator.logging.ValidationFailure as failure:
            events = [failure.event]
    return list(Formatter(compatibility.AA(events)))


def test_every_feed_passes_the_w3c_validator(
    db: Database, tmp_path: Path, database_url: str
) -> None:
    feedvalidator = validator()
    awkward = tmp_path / "awkward"
    awkward.mkdir()
    (awkward / "awkward.md").write_text(AWKWARD_MARKDOWN, encoding="utf-8")
    (awkward / "archive.txt").write_text(AWKWARD_ARCHIVE, encoding="utf-8")
    settings = load_settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        site_url=SITE,
        sources=[
            {"name": "content", "kind": "directory", "path": str(CONTENT)},
            {"name": "awkward", "kind": "directory", "path": str(awkward)},
        ],
    )
    reports = ingest(db, settings)
    assert [report.failed for report in reports] == [0, 0]
    out = tmp_path / "public"
    build_feeds(db, settings, out)
    relative = {path.relative_to(out).as_posix() for path in out.rglob("*.xml")}
    assert {"feed.xml", "atom.xml", "tags/food-drink/atom.xml"} <= relative
    assert any(name.startswith("authors/") for name in relative)
    found = {}
    for name in sorted(relative):
        if lines := problems(feedvalidator, out / name, f"{SITE}/{name}"):
            found[name] = lines
    assert found == {}

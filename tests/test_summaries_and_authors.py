"""Summaries are the first real paragraph cut at a sentence; one person is one author
(on a real folder source, a real database and real feed files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.authors import person_name
from pipeline.feeds.build import build_feeds
from pipeline.ingest import ingest
from pipeline.sanitize import summarise, summary_cut
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.storage.posts import published_posts

FIRST = "The first real paragraph says what the post is about."


@pytest.mark.parametrize(
    "furniture",
    [
        "<p>Picture credit: https://www.pexels.com/@fauxels/</p>",
        "<p>Photo: Jane Smith / Example Agency</p>",
        "<p>Image by Kim Lee from Pixabay</p>",
        "<figure><img src='https://x.example/a.jpg' alt=''><figcaption>The town hall"
        " in 1910</figcaption></figure>",
        "<p>By Ann Lee</p>",
        "<p>Ann Lee</p>",
        "<p>Theme: Housing and planning</p>",
        "<p>[i] Local Government Act 1972, section 101.</p>",
        "<p>References:</p>",
        "<p>Smith, J. (2020) Councils in crisis. London: Policy Press.</p>",
    ],
)
def test_summary_skips_credits_captions_bylines_and_references(furniture: str) -> None:
    content = f"{furniture}\n<p>{FIRST}</p>"
    assert summarise(None, content, authors=["Ann Lee"]) == FIRST
    assert summarise("Picture credit: https://x.example/", content, authors=["Ann Lee"]) == FIRST


def test_summary_is_cut_at_a_sentence_boundary() -> None:
    sentence = "Each sentence here is a little over fifty characters long."
    paragraph = " ".join([sentence] * 8)
    summary = summarise(None, f"<p>{paragraph}</p>")
    assert summary.endswith("long.") and len(summary) <= 300
    assert summary == " ".join([sentence] * (300 // (len(sentence) + 1)))
    # A first sentence longer than the limit is cut at a word, with an ellipsis.
    long_sentence = "word " * 100
    assert summary_cut(long_sentence.strip(), 50).endswith("word…")


def test_summary_keeps_punctuation_against_inline_markup_and_spaces_blocks() -> None:
    content = (
        '<p>Read <a href="https://x.example/r">the report</a>, then <em>decide</em>.'
        " <strong>Now</strong>!<br>Next line<sup>1</sup>.</p>"
    )
    assert summarise(None, content) == "Read the report, then decide. Now! Next line1."
    assert summarise(None, "<div>One</div><div>two</div>") == "One two"


@pytest.mark.parametrize(
    ("given", "person"),
    [
        ("Dr Stephen Jeffares", "Stephen Jeffares"),
        ("Stephen Jeffares", "Stephen Jeffares"),
        ("Edwina Grant OBE", "Edwina Grant"),
        ("Anthony Mason, Senior Associate INLOGOV", "Anthony Mason"),
        ("Prof. Jane Roe PhD FRSA", "Jane Roe"),
        ("Professor Alan Whitcombe", "Alan Whitcombe"),
        ("Anon", "Anon"),
    ],
)
def test_person_name_drops_honorifics_roles_and_post_nominals(given: str, person: str) -> None:
    assert person_name(given) == person


ARCHIVE = """Apprenticeships in a nutshell

Picture credit: https://www.pexels.com/@startup-stock-photos/

Stephen Jeffares

All this week we are celebrating our apprenticeship programme. Here is an overview.

Dr Stephen Jeffares is Associate Professor in Public Policy.

What have apprenticeships ever done for us?

Picture credit: https://www.pexels.com/@fauxels/

Dr Stephen Jeffares

It is national apprenticeship week! We thought it an opportunity to celebrate.

Schools and local authorities

Edwina Grant OBE

Recently, politicians at the county council have reflected on the national picture for schools.
"""


def test_one_person_is_one_author_with_one_feed_and_no_credit_summaries(
    db: Database, settings: Settings, posts_dir: Path, tmp_path: Path
) -> None:
    (posts_dir / "archive.txt").write_text(ARCHIVE, encoding="utf-8")
    [report] = ingest(db, settings)
    assert report.new == 3, report.errors
    posts = published_posts(db)
    assert {author for post in posts for author in post.authors} == {
        "Stephen Jeffares",
        "Edwina Grant",
    }
    assert not [post.summary for post in posts if post.summary.startswith("Picture")]
    build_feeds(db, settings, tmp_path / "public")
    authors = sorted(path.name for path in (tmp_path / "public" / "authors").iterdir())
    assert authors == ["edwina-grant", "stephen-jeffares"]

"""Archive pages in every shape met in real exports (tests/fixtures/archives, each with
the posts a reader sees in it), scored for post recall, precision and author accuracy;
and what each shape must keep."""

from __future__ import annotations

import pytest
from archive_score import ARCHIVES, Score, pages, score

from pipeline.sources.plaintext import parse_text

RECALL, PRECISION, AUTHORS = 0.95, 0.95, 0.9


def posts_of(name: str) -> dict[str, tuple[tuple[str, ...], str]]:
    text = (ARCHIVES / name).read_text(encoding="utf-8")
    return {post.title: (post.authors, post.html) for post in parse_text(text)}


def test_archive_pages_are_split_well_enough() -> None:
    total = Score()
    for name, text, expected in pages():
        page = score(text, expected)
        total.add(page)
        print(page.line(name))
    print(total.line("overall"))
    assert total.recall >= RECALL and total.precision >= PRECISION
    assert total.author_accuracy >= AUTHORS


@pytest.mark.parametrize(
    ("title", "author", "standfirst"),
    [
        ("Commissioning for outcomes, ten years on", "Maria Okonjo", "Maria Okonjo is"),
        ("Why parish councils matter more than ever", "Tom Fairweather", "Tom Fairweather from"),
        ("Listening to young carers", "Aisha Rahman", "As part of a series"),
        (
            "Devolution deals and the missing middle",
            "Professor Alan Whitcombe",
            "In this blog, Professor",
        ),
    ],
)
def test_a_standfirst_names_the_author_and_stays_the_first_paragraph(
    title: str, author: str, standfirst: str
) -> None:
    authors, body = posts_of("standfirsts.txt")[title]
    assert authors == (author,)
    assert body.startswith(f"<p>{standfirst}")


def test_without_byline_or_standfirst_no_author_is_invented() -> None:
    posts = posts_of("no_bylines.txt")
    assert list(posts) == [
        "Budget consultation season",
        "The case for slower procurement",
        "Data dashboards nobody reads",
    ]
    assert all(authors == () for authors, _ in posts.values())


def test_references_and_footnotes_stay_with_their_post() -> None:
    posts = posts_of("references.txt")
    _, social_value = posts["Measuring social value in contracts"]
    assert "<p>[ii] Local Government Association (2020)" in social_value
    _, shared = posts["Shared services after the honeymoon"]
    assert shared.endswith("<p>Wilson, D. (2019) Why councils stop sharing</p>")


def test_a_theme_line_is_kept_in_the_body_and_not_taken_for_a_title() -> None:
    posts = posts_of("themes.txt")
    authors, body = posts["Housing the next generation"]
    assert authors == ("Olu Adeyemi",) and body.startswith("<p>Theme: Housing and planning</p>")
    assert posts["Health and wealth in coastal towns"][0] == ()


def test_headings_inside_a_post_and_a_bio_of_someone_else_do_not_split_it() -> None:
    posts = posts_of("tricky.txt")
    assert list(posts) == ["Fixing the potholes", "Making the most of libraries"]
    assert "<p>Lessons learned</p>" in posts["Fixing the potholes"][1]

"""The Markdown reader: front matter fields, clear errors, and no other exception."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.sources.base import ParseError
from pipeline.sources.markdown import parse_markdown

LONDON = ZoneInfo("Europe/London")


def test_every_front_matter_field_is_read() -> None:
    post = parse_markdown(
        "\ufeff---\n"
        "title: 'Budgets & <people>'\n"
        "date: 2026-07-01 09:30\n"
        "updated: 2026-07-02T10:00:00+02:00\n"
        "authors: [Ann Lee, Bo Chen, Ann Lee]\n"
        "tags: budgets, cities\n"
        "summary: Short.\n"
        "slug: budgets\n"
        "draft: no\n"
        "url: https://example.org/budgets\n"
        "id: tag:example.org,2026:1\n"
        "---\n"
        "Hello *world*.\n\n- one\n- two\n",
        default_tz=LONDON,
    )
    assert post.title == "Budgets & <people>"
    assert post.published == datetime(2026, 7, 1, 9, 30, tzinfo=LONDON)
    assert post.updated == datetime(2026, 7, 2, 8, 0, tzinfo=UTC)
    assert post.authors == ("Ann Lee", "Bo Chen")
    assert post.tags == ("budgets", "cities")
    assert (post.summary, post.slug, post.draft) == ("Short.", "budgets", False)
    assert post.url == "https://example.org/budgets"
    assert post.guid == "tag:example.org,2026:1"
    assert "<em>world</em>" in post.html and "<li>two</li>" in post.html


def test_title_falls_back_to_the_first_heading_and_dates_to_none() -> None:
    post = parse_markdown("# A heading title\n\nBody.\n", default_tz=LONDON)
    assert post.title == "A heading title"
    assert "A heading title" not in post.html
    assert post.published is None and post.authors == ()


@pytest.mark.parametrize(
    ("credit", "authors"),
    [
        ("Ann Lee, Bo Chen", ("Ann Lee", "Bo Chen")),
        (
            "Dr Zoë Ó Briain, Senior Associate INLOGOV",
            ("Dr Zoë Ó Briain, Senior Associate INLOGOV",),
        ),
        (
            "Ann Lee, OBE, Bo Chen, Lecturer in Public Policy",
            ("Ann Lee, OBE", "Bo Chen, Lecturer in Public Policy"),
        ),
        (
            "Prof Cy Dee, Head of School, University of Birmingham",
            ("Prof Cy Dee, Head of School, University of Birmingham",),
        ),
    ],
)
def test_a_role_after_a_comma_stays_with_its_person(credit: str, authors: tuple[str, ...]) -> None:
    post = parse_markdown(f'---\ntitle: T\nauthor: "{credit}"\n---\nx', default_tz=LONDON)
    assert post.authors == authors


def test_yaml_dates_and_single_author() -> None:
    post = parse_markdown(
        "---\ntitle: T\ndate: 2026-01-05\nauthor: Ann\ndraft: true\n---\nx", default_tz=LONDON
    )
    assert post.published == datetime(2026, 1, 5, tzinfo=LONDON)
    assert post.authors == ("Ann",)
    assert post.draft is True
    offset = parse_markdown(
        "---\ntitle: T\ndate: 2026-01-05T10:00:00-05:00\n---\n", default_tz=LONDON
    ).published
    assert offset is not None and offset.utcoffset() == timedelta(hours=-5)
    assert offset.tzinfo == timezone(timedelta(hours=-5))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("---\ntitle: [unclosed\n---\nbody", "front matter at line 3: "),
        ("---\n- a list\n---\nbody", "front matter must be a mapping"),
        ("---\ntitle: T\ndate: next tuesday\n---\n", "'date': 'next tuesday' is not a date"),
        ("---\ntitle: T\ndraft: maybe\n---\n", "'draft' must be true or false"),
        ("---\ntitle: T\nauthors: {a: 1}\n---\n", "'authors' must be a name or a list"),
        ("---\ndate: 2026-01-01\n---\nno heading here", "no title"),
        ("", "no title"),
    ],
)
def test_problems_are_one_line_parse_errors(text: str, reason: str) -> None:
    with pytest.raises(ParseError) as problem:
        parse_markdown(text, default_tz=LONDON)
    assert reason in str(problem.value)
    assert "\n" not in str(problem.value)


front_matter_values = st.one_of(
    st.text(max_size=30),
    st.integers(),
    st.booleans(),
    st.none(),
    st.lists(st.text(max_size=10), max_size=3),
    st.dates().map(str),
)


@given(
    meta=st.dictionaries(
        st.sampled_from(["title", "date", "updated", "author", "authors", "tags", "draft", "slug"]),
        front_matter_values,
        max_size=8,
    ),
    body=st.text(max_size=200),
)
def test_any_front_matter_yields_a_post_or_a_parse_error(meta: dict, body: str) -> None:
    lines = "\n".join(f"{key}: {value!r}" for key, value in meta.items())
    try:
        post = parse_markdown(f"---\n{lines}\n---\n{body}", default_tz=LONDON)
    except ParseError:
        return
    assert post.title


@given(st.text(max_size=400))
def test_any_text_yields_a_post_or_a_parse_error(text: str) -> None:
    with contextlib.suppress(ParseError):
        parse_markdown(text, default_tz=LONDON)

"""Plain-text exports: the seed archive pages, small fixtures written for this project,
and properties over arbitrary text."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.sources.base import ParseError
from pipeline.sources.plaintext import TextPost, parse_text

FIXTURES = Path(__file__).parent / "fixtures" / "text"
SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"

# Checked independently of the parser: a test that reused its patterns would prove nothing.
BOILERPLATE_PHRASES = (
    "Fill in your details",
    "You are commenting using",
    "Google photo",
    "Twitter picture",
    "Facebook photo",
    "Connecting to %s",
    "Continue reading",
    "Category:",
    "Share this",
    "Like this",
    "Like Loading",
    "Loading...",
)
COMMENT_START = re.compile(r"One thought on|\d+ thoughts on|Leave a (?:Reply|comment)")
PARAGRAPH = re.compile(r"<(?:p|li)>(.*?)</(?:p|li)>")
TAG = re.compile(r"<[^>]+>")
BULLET = re.compile(r"^[•*-]\s*")

# seed file prefix -> (title, authors, the author line as written) per post
SEED_POSTS = {
    "000": [("Crossing Sectors", ("Jason Lowther",), "Jason Lowther")],
    "001": [
        ("Mission Possible?", ("Jason Lowther",), "Jason Lowther"),
        ("Making friends with a highlighter pen", ("Anon",), "Anon"),
        (
            "INLOGOV\u2019s Senior Leader Apprenticeship 101",
            ("Stephen Jeffares",),
            "Stephen Jeffares",
        ),
        (
            "What have apprenticeships ever done for us?",
            ("Dr Stephen Jeffares",),
            "Dr Stephen Jeffares",
        ),
        (
            "How the MSc Public Management course has helped me professionally: "
            "A graduate\u2019s experience one year on",
            ("Luke Bradbury",),
            "Luke Bradbury",
        ),
        ("Schools and local authorities \u2013 where next?", ("Edwina Grant",), "Edwina Grant"),
    ],
    "002": [
        ("Cities will need to lead the way post-Brexit", ("Paul Bunyan",), "Paul Bunyan"),
        (
            "Creating our fate through our own behaviours",
            ("Anthony Mason",),
            "Anthony Mason, Senior Associate INLOGOV",
        ),
        (
            "Catherine Staite reflects on the need for 21st century partnerships in Birmingham",
            ("Catherine Staite",),
            "Catherine Staite, Director, INLOGOV",
        ),
    ],
}


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def seed(prefix: str) -> str:
    if not SEEDS.is_dir():
        pytest.skip(f"seed exports not found at {SEEDS} (they live outside the repository)")
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


def visible_text(post: TextPost) -> str:
    """The body as a reader sees it, still escaped: tags (paragraphs, links) removed."""
    return TAG.sub("", post.html)


def is_boilerplate(line: str) -> bool:
    return line.startswith(BOILERPLATE_PHRASES) or bool(COMMENT_START.match(line))


def assert_no_boilerplate(post: TextPost) -> None:
    for paragraph in PARAGRAPH.findall(post.html):
        assert not is_boilerplate(TAG.sub("", paragraph)), (post.title, paragraph)


def body_lines_by_post(text: str, headers: list[tuple[str, str]]) -> list[list[str]]:
    """Each post's expected body lines: every line but titles, author lines, boilerplate
    and comment sections, assigned to the post whose title last preceded it."""
    titles = [title for title, _ in headers]
    author_lines = {author_line for _, author_line in headers}
    bodies: list[list[str]] = [[] for _ in headers]
    current, in_comments = -1, False
    for raw in text.removeprefix("\ufeff").splitlines():
        line = " ".join(raw.split())
        if current + 1 < len(titles) and line == titles[current + 1]:
            current, in_comments = current + 1, False
            continue
        in_comments = in_comments or bool(COMMENT_START.match(line))
        if line and line not in author_lines and not in_comments and not is_boilerplate(line):
            bodies[current].append(BULLET.sub("", line))
    return bodies


# --- the seeds -----------------------------------------------------------------------


@pytest.mark.parametrize("prefix", sorted(SEED_POSTS))
def test_seed_posts_have_their_titles_and_authors(prefix: str) -> None:
    posts = parse_text(seed(prefix))
    expected = [(title, authors) for title, authors, _ in SEED_POSTS[prefix]]
    assert [(post.title, post.authors) for post in posts] == expected


@pytest.mark.parametrize("prefix", sorted(SEED_POSTS))
def test_seed_posts_keep_no_boilerplate(prefix: str) -> None:
    for post in parse_text(seed(prefix)):
        assert_no_boilerplate(post)


@pytest.mark.parametrize("prefix", sorted(SEED_POSTS))
def test_seed_posts_lose_no_paragraph(prefix: str) -> None:
    text = seed(prefix)
    posts = parse_text(text)
    headers = [(title, author_line) for title, _, author_line in SEED_POSTS[prefix]]
    for post, lines in zip(posts, body_lines_by_post(text, headers), strict=True):
        assert lines, post.title
        for line in lines:
            assert html.escape(line) in visible_text(post), (post.title, line)


def test_seed_signature_line_stays_in_the_body() -> None:
    posts = parse_text(seed("002"))
    assert "<p>Anthony Mason</p>" in posts[1].html
    assert "<p>Catherine Staite</p>" in posts[2].html


def test_seed_repeated_author_line_is_dropped() -> None:
    (post,) = parse_text(seed("000"))
    assert "Jason Lowther</p>" not in post.html


def test_seed_picture_credit_before_the_author_opens_the_new_post() -> None:
    posts = parse_text(seed("001"))
    assert posts[0].html.endswith("<p>Picture credit: BBC</p>")
    assert posts[2].html.startswith("<p>Picture credit: <a href=")


# --- fixtures written for this project --------------------------------------------------


def test_single_post() -> None:
    (post,) = parse_text(fixture("single_post.txt"))
    assert post.title == "Why Parish Councils Still Matter"
    assert post.authors == ("Priya Natarajan",)
    assert post.html.count("<p>") == 4
    assert post.html.startswith("<p>Parish and town councils are the tier")
    assert (
        'The figures are at <a href="https://example.org/parishes">'
        "https://example.org/parishes</a>.</p>"
    ) in post.html
    assert (
        "<p>Three things stand out:</p>\n<ul><li>they are run almost entirely by volunteers;</li>"
        "<li>they can act within weeks rather than years;</li><li>they know their patch.</li></ul>"
    ) in post.html
    assert post.html.endswith(
        "<p>Priya Natarajan is a research fellow who writes about neighbourhood governance.</p>"
    )


def test_archive_page_is_split_into_posts() -> None:
    posts = parse_text(fixture("archive.txt"))
    assert [(post.title, post.authors) for post in posts] == [
        ("Budgets & Belonging: what £1 buys", ("Tom O'Reilly",)),
        ("Is Devolution Working?", ("Dr Amara Okafor",)),
        ("Notes from a Ward Surgery!", ("Anon",)),
    ]


def test_archive_page_drops_boilerplate_and_comments_only() -> None:
    budgets, devolution, notes = parse_text(fixture("archive.txt"))
    for post in (budgets, devolution, notes):
        assert_no_boilerplate(post)
        assert "Sam Ellis" not in post.html  # a commenter, inside the comment section
    assert budgets.html == (
        "<p>When a council spends &lt; 1% of its budget on community grants, the return is hard"
        " to see in the accounts but easy to see on the street.</p>\n"
        "<p>We followed forty small grants for a year and asked the people running them what"
        " changed.</p>\n"
        "<p>Tom O&#x27;Reilly</p>\n"
        "<p>Tom O&#x27;Reilly is a visiting fellow who studies municipal finance and has never once"
        " balanced his own chequebook.</p>"
    )


def test_duplicate_author_line_is_dropped_and_picture_credit_kept() -> None:
    devolution = parse_text(fixture("archive.txt"))[1]
    assert "Okafor" not in devolution.html
    assert devolution.html == (
        "<p>Picture credit: Jane Roe, used with permission</p>\n"
        "<p>Ten years after the first city deals, the evidence on devolution is finally"
        " starting to arrive.</p>\n"
        "<p>Further reading:</p>\n"
        "<ul><li>The first city deals, reviewed</li><li>Mayors and their budgets</li></ul>"
    )


def test_list_introduction_is_not_a_new_post() -> None:
    notes = parse_text(fixture("archive.txt"))[2]
    assert notes.html.endswith(
        "<p>References:</p>\n<ul><li>Minutes of the ward forum, March</li>"
        "<li>The council&#x27;s casework guide</li></ul>"
    )


@pytest.mark.parametrize("signature", ["Jane Doe", "Dr Jane Doe"])
def test_signature_and_bio_after_a_short_line_are_not_a_new_post(signature: str) -> None:
    text = (
        "Street Trees\n\nJane Doe\n\nPlant more of them.\n\nThanks for reading!\n\n"
        f"{signature}\n\nJane Doe is a tree officer.\n"
    )
    (post,) = parse_text(text)
    assert post.html.endswith(
        f"<p>Thanks for reading!</p>\n<p>{signature}</p>\n<p>Jane Doe is a tree officer.</p>"
    )


@pytest.mark.parametrize(
    ("line", "authors"),
    [
        ("Mei Chen, Lecturer, Example College", ("Mei Chen",)),
        ("Prof. Abby Byrne", ("Prof. Abby Byrne",)),
        ("by Ann Lee and Raj Patel, Policy Team", ("Ann Lee", "Raj Patel")),
        ("Ludwig van Beethoven & Jean-Luc O'Neil", ("Ludwig van Beethoven", "Jean-Luc O'Neil")),
        ("Conclusion", ()),
        ("Some Lowercase words here", ()),
        ("Three Cheers, we did it.", ()),
    ],
)
def test_author_line(line: str, authors: tuple[str, ...]) -> None:
    (post,) = parse_text(f"Ward Boundaries Explained\n\n{line}\n\nBody.")
    assert post.authors == authors
    assert post.html == ("<p>Body.</p>" if authors else f"<p>{html.escape(line)}</p>\n<p>Body.</p>")


def test_bullets_wrapped_lines_and_lists_split_by_blank_lines() -> None:
    text = (
        "Tips\n\nAnon\n\nStart here:\n"
        "  • one\n  • two,\n    continued\n\n* three\n\n- four\nAfter the list.\n-5 is a number."
    )
    (post,) = parse_text(text)
    assert post.html == (
        "<p>Start here:</p>\n"
        "<ul><li>one</li><li>two, continued</li><li>three</li><li>four</li></ul>\n"
        "<p>After the list. -5 is a number.</p>"
    )


def test_crlf_bom_tabs_and_no_break_spaces_read_like_plain_text() -> None:
    plain = fixture("single_post.txt")
    messy = "\ufeff" + plain.replace("  •", "\t•").replace("Still ", "Still\u00a0\t")
    messy = messy.replace("Natarajan\n", "Natarajan\u00a0\n").replace("\n", "\r\n")
    assert parse_text(messy) == parse_text(plain)


def test_post_without_author_line() -> None:
    (post,) = parse_text("\n\n  A Title Alone  \n\nThe body begins at once, with no byline.\n")
    assert post == TextPost("A Title Alone", (), "<p>The body begins at once, with no byline.</p>")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  \n\t\n\u00a0\n",
        "\ufeff\r\n\r\n",
        "Share this:\n\nLike this:\n\nLike Loading...\n\nContinue reading\n",
        "Leave a Reply\n\nFill in your details below\n\nA commenter's words.\n",
    ],
    ids=["empty", "whitespace", "bom-crlf", "boilerplate", "comment-form"],
)
def test_nothing_usable_raises_parse_error(text: str) -> None:
    with pytest.raises(ParseError, match="no post found"):
        parse_text(text)


# --- properties --------------------------------------------------------------------------

LINES = [
    "",
    "A Short Title",
    "Is This a Question?",
    "Jane Doe",
    "Dr Jane Doe, Director, Somewhere",
    "Anon",
    "Picture credit: someone",
    "  • a bullet",
    "- another bullet",
    "    continued",
    "References:",
    "A long body paragraph that ends like a sentence, as body paragraphs do.",
    "Jane Doe is a researcher.",
    "One thought on “A Short Title”",
    "Leave a Reply",
    "Like Loading...",
    "See https://example.org/a?b=1&c=<2>.",
]
documents = st.tuples(
    st.sampled_from(["", "\ufeff"]),
    st.lists(st.one_of(st.sampled_from(LINES), st.text(max_size=40)), max_size=30),
    st.sampled_from(["\n", "\r\n", "\r", "\n\n", "\u2028"]),
).map(lambda parts: parts[0] + parts[2].join(parts[1]))


def parse_or_none(text: str) -> list[TextPost] | None:
    try:
        return parse_text(text)
    except ParseError as exc:
        assert str(exc) and "\n" not in str(exc)
        return None


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), documents))
def test_any_text_gives_posts_or_parse_error(text: str) -> None:
    posts = parse_or_none(text)
    assert posts is None or (posts and all(isinstance(post, TextPost) for post in posts))


@settings(max_examples=300, deadline=None)
@given(st.one_of(documents, st.text()))
def test_titles_and_authors_are_single_stripped_lines(text: str) -> None:
    for post in parse_or_none(text) or []:
        for value in (post.title, *post.authors):
            assert value and value == value.strip()
            assert value.splitlines() == [value], value

"""The digest email, rendered once per selection of posts and kept under Gmail's clip.

Gmail shows only the first 102 KB of an email's HTML and hides the rest behind "View entire
message", the footer with the unsubscribe link included. A digest that would be longer
first shortens its summaries, then leaves them out, then lists fewer posts and links to
the rest on the site.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.clicks import post_links
from pipeline.digest.entries import TITLE_LENGTH, date_range, entries
from pipeline.mail.headers import safe_header
from pipeline.mail.render import RenderedEmail, render_email, site_context
from pipeline.mail.template import inert
from pipeline.sanitize import SUMMARY_LENGTH, shorten
from pipeline.settings import Settings
from pipeline.storage.models import Post

if TYPE_CHECKING:
    from pipeline.editorial import Intro

GMAIL_CLIP = 102_000  # bytes of HTML; "102 KB" read the strict way
SUMMARY_LENGTHS = (SUMMARY_LENGTH, 120, 0)  # tried in turn; 0 shows titles only
SLOT_ALLOWANCE = 200  # bytes a recipient's value (a link with a token) adds beyond SITE_URL
PREVIEW_TITLES = 3
PREVIEW_LENGTH = 150

_SLOT = re.compile(r"%%[a-z_]+%%")
_DEFAULT_SUBJECT = Settings.model_fields["digest_subject"].default
_ONE_POST_SUBJECT = {_DEFAULT_SUBJECT: "{site}: {first_title} ({dates})"}

Render = Callable[[int, int], RenderedEmail]


@dataclass(frozen=True)
class DigestContent:
    """A digest's subject and bodies; the bodies hold slots for each recipient's links."""

    subject: str
    html: str
    text: str
    dates: str  # the days the posts span: "2-9 November 2026" (an en dash)
    posts: int  # posts selected
    shown: int  # posts listed: fewer than `posts` when the size cap cut the list


def render_digest(
    settings: Settings,
    posts: Sequence[Post],
    *,
    run_id: int | None = None,
    archive_url: str = "",
    subject: str | None = None,
    intro: Intro | None = None,
) -> DigestContent:
    """The digest of `posts` (newest first, at least one), with the slots `%%unsubscribe_url%%`
    and `%%preferences_url%%`; a run's digest links posts through the click counter. Costs a
    few MJML renders: call it once per selection. `archive_url` is the run's public copy,
    linked as "View in browser". An editor's `subject` (a clean line, see
    `pipeline.editorial.subject_line`) replaces the default one, and their `intro` opens
    the mail."""
    if not posts:
        raise ValueError("a digest needs at least one post")
    dates = date_range([post.published for post in posts], settings.zone)
    subject = subject or _subject(settings, posts, dates)
    render: Render = functools.partial(_render, settings, posts, dates, run_id, archive_url, intro)
    reserve = len(settings.base_url) + SLOT_ALLOWANCE
    shown, body = _fitted(render, len(posts), functools.partial(_fits, reserve=reserve))
    return DigestContent(
        subject=subject,
        html=body.html,
        text=body.text,
        dates=dates,
        posts=len(posts),
        shown=shown,
    )


def default_subject(settings: Settings, posts: Sequence[Post]) -> str:
    """The subject a digest of `posts` gets when no editor sets one."""
    return _subject(settings, posts, date_range([post.published for post in posts], settings.zone))


def _subject(settings: Settings, posts: Sequence[Post], dates: str) -> str:
    """DIGEST_SUBJECT filled in (for one post, its title, if it is the default), on one
    line and unable to carry a slot."""
    count, pattern = len(posts), settings.digest_subject
    if count == 1:
        pattern = _ONE_POST_SUBJECT.get(pattern, pattern)
    first_title = shorten(posts[0].title, TITLE_LENGTH)
    subject = pattern.format(
        site=settings.site_title, count=count, first_title=first_title, dates=dates
    )
    return inert(safe_header(subject))


def _fitted(render: Render, total: int, fits: Callable[[str], bool]) -> tuple[int, RenderedEmail]:
    """(posts shown, body) of the fullest digest that fits: all posts with the longest
    summaries that fit, else as many posts as fit with titles only (at least one)."""
    for length in SUMMARY_LENGTHS:
        body = render(total, length)
        if fits(body.html):
            return total, body
    shown, low, high = 1, 2, total - 1  # binary search of the counts not yet tried
    while low <= high:
        middle = (low + high) // 2
        if fits(render(middle, 0).html):
            shown, low = middle, middle + 1
        else:
            high = middle - 1
    return shown, render(shown, 0)


def _fits(html: str, *, reserve: int) -> bool:
    """Whether `html` stays under Gmail's clip once every slot holds a recipient's value."""
    return len(html.encode()) + reserve * len(_SLOT.findall(html)) <= GMAIL_CLIP


def _render(
    settings: Settings,
    posts: Sequence[Post],
    dates: str,
    run_id: int | None,
    archive_url: str,
    intro: Intro | None,
    shown: int,
    summary_length: int,
) -> RenderedEmail:
    """The first `shown` posts, with summaries cut to `summary_length` (0: none)."""
    count, more = len(posts), len(posts) - shown
    site = inert(settings.site_title)
    titles = " · ".join(post.title for post in posts[:PREVIEW_TITLES])
    headline = f"{count} new post{'s' if count != 1 else ''}"
    # Not the subject as the document title: MJML copies it into an aria-label, where it
    # writes some characters of post titles as Rust escapes (`\u{200f}`).
    context = site_context(settings, title=f"{site}: {headline}") | {"site_title": site}
    return render_email(
        "digest",
        **context,
        headline=headline,
        dates=dates,
        archive_url=archive_url,
        preview=inert(shorten(f"{headline}: {titles}", PREVIEW_LENGTH)),
        posts=entries(
            posts[:shown],
            zone=settings.zone,
            base_url=settings.base_url,
            summary_length=summary_length,
            link=post_links(settings, run_id),
        ),
        more=f"{more} more post{'s' if more != 1 else ''} on the site" if more else "",
        postal_address=inert(settings.postal_address or ""),
        intro_html=intro.html if intro else "",
        intro_text=intro.text if intro else "",
    )

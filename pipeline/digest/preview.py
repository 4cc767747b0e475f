"""A digest before it goes: one reader's copy, a test copy for an editor's inbox, and what
sending would do now.

`newsletter digest` and the admin UI both use these, so a preview on either shows exactly
the message the run would send, and "send now" asks about the same recipients.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from pipeline.archive import archive_url
from pipeline.digest.each import EACH, plan_pending, post_period
from pipeline.digest.message import digest_recipient, digest_template
from pipeline.digest.render import render_digest
from pipeline.digest.select import period_of, plan, planned, selection_for
from pipeline.keys import signing_keys
from pipeline.mail.template import OutgoingMessage, Recipient
from pipeline.outbox import FINISHED, counts, find_run
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.storage.models import DigestRun, DigestSelection, OutboxItem, Post
from subscribers import Frequency, Subscriber, TokenSigner

SAMPLE_POSTS = 5
SAMPLE_READER = Subscriber(id=0, email="reader@example.org", name="Sample Reader", token_nonce="0")


def preview_posts(
    db: Database, subscriber: Subscriber | None, frequency: Frequency, now: datetime
) -> list[Post]:
    """What `subscriber` (None: a new subscriber) would get now (for `each`, the newest
    post's own mail); failing that, the latest posts, so there is always something to look
    at once anything is published."""
    with db.session() as session:
        ids = selection_for(session, subscriber, frequency, now)
        if frequency == EACH:
            ids = ids[:1]
        query = select(Post).where(Post.status == "published")
        if ids:
            found = {post.id: post for post in session.scalars(query.where(Post.id.in_(ids)))}
            return [found[post_id] for post_id in ids if post_id in found]
        shown = 1 if frequency == EACH else SAMPLE_POSTS
        newest = query.order_by(Post.published.desc()).limit(shown)
        return list(session.scalars(newest))


def preview_message(
    settings: Settings, posts: list[Post], subscriber: Subscriber | None, archive_url: str = ""
) -> OutgoingMessage:
    """The copy of `posts` that `subscriber` (None: a sample reader) would get, links and all
    (`archive_url`: the run's "View in browser" page, see `run_archive_url`)."""
    signer = TokenSigner(signing_keys(settings))
    reader = digest_recipient(settings, signer, subscriber or SAMPLE_READER, "preview")
    content = render_digest(settings, posts, archive_url=archive_url)
    return digest_template(settings, content).render(reader)


def run_archive_url(
    settings: Settings, frequency: Frequency, now: datetime, posts: list[Post]
) -> str:
    """Where the run that would send `posts` now has its public copy."""
    if frequency == EACH:
        return archive_url(settings, EACH, post_period(posts[0].id))
    return archive_url(settings, frequency, period_of(frequency, now, settings.zone))


def editor_copy(settings: Settings, posts: list[Post], email: str) -> OutgoingMessage:
    """A copy for `email` (already normalised) whose links lead to the site, not to anyone's
    subscription: a test changes no subscriber's state."""
    links = {"unsubscribe_url": f"{settings.base_url}/", "preferences_url": f"{settings.base_url}/"}
    recipient = Recipient("test", email, "", links | {"unsubscribe_token": "test"})
    return digest_template(settings, render_digest(settings, posts)).render(recipient)


@dataclass(frozen=True)
class SendOutlook:
    """What sending a frequency's digest now would do: resume or leave this period's run, or
    start one for `recipients` subscribers."""

    frequency: Frequency
    period: str
    run: DigestRun | None
    left: int  # messages of `run` still queued
    recipients: int  # subscribers a new run would mail; 0 when `run` exists
    planned: dict[tuple[int, ...], list[int]] | None = None  # per-post mail: post → readers

    @property
    def finished(self) -> bool:
        return self.run is not None and self.run.status in FINISHED


def send_outlook(
    db: Database, settings: Settings, frequency: Frequency, now: datetime
) -> SendOutlook:
    if frequency == EACH:
        posts, plan_now = plan_pending(db, settings, now)
        label = f"{posts} new post{'s' if posts != 1 else ''}"
        return SendOutlook(EACH, label, None, 0, plan_now.recipients, plan_now.groups)
    period = period_of(frequency, now, settings.zone)
    run = find_run(db, frequency, period)
    if run is not None:
        left = counts(db, [run.id])[run.id]["queued"]
        return SendOutlook(frequency, period, run, left, 0)
    with db.session() as session:
        recipients = sum(len(chunk) for chunk in planned(session, frequency, now))
    return SendOutlook(frequency, period, None, 0, recipients)


def would_send(
    outlook: SendOutlook, db: Database, now: datetime
) -> dict[tuple[int, ...], list[int]]:
    """Exactly who `digest send` would mail now, and which posts (ids, as they would go):
    nobody for a finished run; an unfinished run's waiting recipients who are still
    confirmed (the send skips the others); else a new run's plan."""
    if outlook.finished:
        return {}
    if outlook.planned is not None:
        return outlook.planned
    with db.session() as session:
        if outlook.run is None:
            return plan(session, outlook.frequency, now).groups
        rows = session.execute(
            select(DigestSelection.post_ids, Subscriber.id)
            .join(DigestSelection, DigestSelection.id == OutboxItem.selection_id)
            .join(Subscriber, Subscriber.id == OutboxItem.subscriber_id)
            .where(
                OutboxItem.run_id == outlook.run.id,
                OutboxItem.status.in_(("queued", "sending")),
                Subscriber.status == "confirmed",
            )
            .order_by(OutboxItem.id)
        )
        groups: dict[tuple[int, ...], list[int]] = {}
        for post_ids, subscriber_id in rows:
            groups.setdefault(tuple(post_ids), []).append(subscriber_id)
        return groups

"""A digest before it goes: one reader's copy, a test copy for an editor's inbox, and what
sending would do now.

`newsletter digest` and the admin UI both use these, so a preview on either shows exactly
the message the run would send, and "send now" asks about the same recipients.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import func, select

from pipeline.archive import archive_url
from pipeline.digest.each import plan_pending
from pipeline.digest.message import digest_recipient, digest_template
from pipeline.digest.render import default_subject, render_digest
from pipeline.digest.select import plan, selection_for
from pipeline.editorial import Editorial, mail_parts
from pipeline.frequencies import EACH, period_of, post_period
from pipeline.keys import signing_keys
from pipeline.mail.template import MessageTemplate, OutgoingMessage, Recipient
from pipeline.outbox import FINISHED, counts, find_run
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.storage.models import DigestRun, DigestSelection, OutboxItem, Post
from subscribers import Frequency, Subscriber, TokenSigner

SAMPLE_POSTS = 5
_CHUNK = 5_000  # ids per IN (…): well under every database's limit on parameters
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
    settings: Settings,
    posts: list[Post],
    subscriber: Subscriber | None,
    archive_url: str = "",
    *,
    note: Editorial | None = None,
) -> OutgoingMessage:
    """The copy of `posts` that `subscriber` (None: a sample reader) would get, links and all,
    with an editor's `note` (subject, intro) if given (`archive_url`: the run's "View in
    browser" page, see `run_archive_url`)."""
    signer = TokenSigner(signing_keys(settings))
    reader = digest_recipient(settings, signer, subscriber or SAMPLE_READER, "preview")
    return _template(settings, posts, note, archive_url).render(reader)


def run_archive_url(
    settings: Settings, frequency: Frequency, now: datetime, posts: list[Post]
) -> str:
    """Where the run that would send `posts` now has its public copy."""
    if frequency == EACH:
        return archive_url(settings, EACH, post_period(posts[0].id))
    return archive_url(settings, frequency, period_of(frequency, now, settings.zone))


def editor_copy(
    settings: Settings, posts: list[Post], email: str, *, note: Editorial | None = None
) -> OutgoingMessage:
    """A copy for `email` (already normalised) whose links lead to the site, not to anyone's
    subscription: a test changes no subscriber's state."""
    links = {"unsubscribe_url": f"{settings.base_url}/", "preferences_url": f"{settings.base_url}/"}
    recipient = Recipient("test", email, "", links | {"unsubscribe_token": "test"})
    return _template(settings, posts, note).render(recipient)


def _template(
    settings: Settings, posts: list[Post], note: Editorial | None, archive_url: str = ""
) -> MessageTemplate:
    subject, intro = mail_parts(note)
    content = render_digest(settings, posts, archive_url=archive_url, subject=subject, intro=intro)
    return digest_template(settings, content)


@dataclass(frozen=True)
class Audience:
    """Who a run would mail: recipients per (frequency, time zone), and each post's title
    with how many of them get it (most first)."""

    zones: dict[tuple[str, str], int] = field(default_factory=dict)
    posts: list[tuple[str, int]] = field(default_factory=list)
    largest: tuple[int, ...] = ()  # the post ids most recipients get


@dataclass(frozen=True)
class SendOutlook:
    """What sending a frequency's digest now would do: resume or leave this period's run, or
    start one for `recipients` subscribers; `audience` says who and which posts."""

    frequency: Frequency
    period: str
    run: DigestRun | None
    left: int  # messages of `run` still queued
    recipients: int  # subscribers a new run would mail; 0 when `run` exists
    planned: dict[tuple[int, ...], list[int]] | None = None  # per-post mail: post → readers
    audience: Audience = field(default_factory=Audience)

    @property
    def finished(self) -> bool:
        return self.run is not None and self.run.status in FINISHED


def send_outlook(
    db: Database, settings: Settings, frequency: Frequency, now: datetime
) -> SendOutlook:
    if frequency == EACH:
        posts, plan_now = plan_pending(db, settings, now)
        label = f"{posts} new post{'s' if posts != 1 else ''}"
        outlook = SendOutlook(EACH, label, None, 0, plan_now.recipients, plan_now.groups)
        return replace(outlook, audience=audience(db, EACH, plan_now.groups))
    period = period_of(frequency, now, settings.zone)
    run = find_run(db, frequency, period)
    if run is not None:
        left = counts(db, [run.id])[run.id]["queued"]
        outlook = SendOutlook(frequency, period, run, left, 0)
        return replace(outlook, audience=audience(db, frequency, would_send(outlook, db, now)))
    with db.session() as session:
        chosen = plan(session, frequency, now)
    outlook = SendOutlook(frequency, period, None, 0, chosen.recipients)
    return replace(outlook, audience=audience(db, frequency, chosen.groups))


def audience(db: Database, frequency: str, groups: dict[tuple[int, ...], list[int]]) -> Audience:
    """`groups` (post ids → subscriber ids) counted by time zone and by post."""
    per_post: Counter[int] = Counter()
    for post_ids, subscriber_ids in groups.items():
        for post_id in post_ids:
            per_post[post_id] += len(subscriber_ids)
    wanted = [subscriber for ids in groups.values() for subscriber in ids]
    zones: Counter[tuple[str, str]] = Counter()
    with db.session() as session:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            for zone, number in session.execute(
                select(Subscriber.timezone, func.count())
                .where(Subscriber.id.in_(chunk))
                .group_by(Subscriber.timezone)
            ):
                zones[(frequency, zone)] += number
        titles = dict(
            session.execute(select(Post.id, Post.title).where(Post.id.in_(list(per_post)))).all()
        )
    posts = [
        (titles[post_id], number) for post_id, number in per_post.most_common() if post_id in titles
    ]
    largest = max(groups.items(), key=lambda group: len(group[1]), default=((), []))[0]
    return Audience(dict(sorted(zones.items())), posts, largest)


def run_subject(
    db: Database, settings: Settings, outlook: SendOutlook, note: Editorial | None
) -> str:
    """The subject the run would go out with: an existing run's own, else the editor's, else
    the default for the selection most recipients get."""
    if outlook.run is not None:
        note = Editorial(outlook.run.subject, outlook.run.intro)
    chosen, _ = mail_parts(note)
    if chosen:
        return chosen
    with db.session() as session:
        found = {
            post.id: post
            for post in session.scalars(select(Post).where(Post.id.in_(outlook.audience.largest)))
        }
    posts = [found[post_id] for post_id in outlook.audience.largest if post_id in found]
    return default_subject(settings, posts) if posts else ""


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

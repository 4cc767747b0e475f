"""Ingest: read each source, normalise its entries, and store what is new or changed.

A post is identified by its GUID and compared by a hash of what its source said, so a
re-run writes nothing for unchanged posts; posts their source no longer holds (or
marks draft) are retired, never deleted, and never reach a feed or a digest.

Each post also gets the moment it becomes news for digests (`news_at`, see `news_from`):
what a source holds at its first ingest is its back catalogue, not news.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from pipeline.links import lead_image, stored_url
from pipeline.post_text import bring_in_line, post_text
from pipeline.redact import redacted
from pipeline.settings import Settings, SourceConfig
from pipeline.sources import Batch, Entry, Source, SourceError, open_source
from pipeline.storage import Database
from pipeline.storage.dialect import INGEST_LOCK, clash_aware_insert, hold_advisory_lock
from pipeline.storage.models import Post, SourceState

PUBLISHED, DRAFT, REMOVED = "published", "draft", "removed"
Track = Callable[[Sequence[SourceConfig]], Iterable[SourceConfig]]
_CHUNK = 500
# Sources are read side by side; their posts are stored one source at a time (here, and
# across processes by `_hold_store`), so slugs are claimed without races.
_storing = threading.Lock()


@dataclass
class IngestReport:
    """What one source's ingest did, for the command's summary line and exit code."""

    source: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether any post was added, changed or retired (feeds then need a rebuild)."""
        return bool(self.new or self.updated or self.removed)

    def summary(self) -> str:
        """One line: `content: 3 new, 1 updated, 10 unchanged, 0 removed, 0 failed`."""
        return (
            f"{self.source}: {self.new} new, {self.updated} updated, {self.unchanged} unchanged,"
            f" {self.removed} removed, {self.failed} failed"
        )


def ingest(
    db: Database,
    settings: Settings,
    *,
    only: str | None = None,
    track: Track = list,
    mail_backlog: bool = False,
) -> list[IngestReport]:
    """Ingest every configured source (or only the one named), each independently and in
    its own thread, so a slow source never holds up the others.

    `track` wraps the sources as their reports come in (a progress bar, say);
    `mail_backlog` treats a source's back catalogue at its first ingest as new posts.
    """
    configs = [config for config in settings.sources if only in (None, config.name)]
    with ThreadPoolExecutor(max_workers=max(len(configs), 1)) as pool:
        reading = {
            config.name: pool.submit(
                ingest_source,
                db,
                open_source(config, settings),
                settings,
                mail_backlog=mail_backlog,
            )
            for config in configs
        }
        return [reading[config.name].result() for config in track(configs)]


def ingest_source(
    db: Database,
    source: Source,
    settings: Settings,
    *,
    now: datetime | None = None,
    mail_backlog: bool = False,
) -> IngestReport:
    """Read one source and apply its batch; a source that cannot be read changes nothing."""
    now = now or datetime.now(UTC)
    report = IngestReport(source.name)
    with db.session() as session:
        stored = session.get(SourceState, source.name)
        previous_state = dict(stored.state) if stored else {}
    try:
        batch = source.read(previous_state)
    except SourceError as exc:
        report.failed, report.errors = 1, [redacted(str(exc))]
        return report
    report.failed, report.errors = len(batch.errors), [redacted(error) for error in batch.errors]
    news = _News(now, timedelta(days=settings.freshness_days), stored is None and not mail_backlog)
    with _storing, db.session() as session:
        _hold_store(session, source.name, now)
        _apply(session, source.name, batch, settings, news, report)
        _save_state(session, source.name, batch.state, now)
    return report


def _hold_store(session: Session, name: str, now: datetime) -> None:
    """Make this transaction the only one storing posts until it ends, before it reads what
    is stored: two `serve` processes (or `serve` and the CLI) ingesting at once must not
    both insert one post, slug or state row. PostgreSQL waits on an advisory lock; on
    SQLite the state row's insert, this transaction's first write, takes the file's lock."""
    hold_advisory_lock(session.connection(), INGEST_LOCK)
    blank = {"name": name, "state": {}, "last_read": now}
    session.execute(clash_aware_insert(session, SourceState).values(blank).on_conflict_do_nothing())


@dataclass(frozen=True)
class _News:
    """What deciding `news_at` needs: when this ingest runs, FRESHNESS_DAYS, and whether
    what it finds is the source's back catalogue (its first ingest)."""

    now: datetime
    freshness: timedelta
    backlog: bool

    def of(self, published: datetime | None, *, backlog: bool | None = None) -> datetime | None:
        return news_from(
            self.now,
            published,
            backlog=self.backlog if backlog is None else backlog,
            freshness=self.freshness,
        )


def news_from(
    first_seen: datetime, published: datetime | None, *, backlog: bool, freshness: timedelta
) -> datetime | None:
    """When a post becomes news for digests, or None when it never does.

    A post is news when first seen (or when its stated date comes, if later), unless it
    states a date older than `freshness` then (an old post imported late is not news).
    The back catalogue counts at its real date, so only a digest whose window covers that
    date mails it; an undated one never.
    """
    if published is None:
        return None if backlog else first_seen
    if backlog:
        return published
    if published < first_seen - freshness:
        return None
    return max(first_seen, published)


def _apply(
    session: Session,
    source: str,
    batch: Batch,
    settings: Settings,
    news: _News,
    report: IngestReport,
) -> None:
    now = news.now
    existing = _existing(session, _ids(batch.entries))
    entries = list(_unique(_as_stored(entry, existing) for entry in batch.entries))
    slugs = _Slugs(session)
    inserts, updates = [], []
    for position, entry in enumerate(entries):
        digest = content_hash(entry)
        current = existing.get(entry.guid)
        if current is None:
            slug = slugs.claim(entry.slug, entry.guid)
            published = entry.published or now - timedelta(seconds=position)
            row = _row(source, entry, settings, slug, digest, published, now)
            inserts.append(row | {"first_seen": now, "news_at": news.of(entry.published)})
        elif current["content_hash"] == digest and current["status"] != REMOVED:
            report.unchanged += 1
        else:
            slug = slugs.claim(entry.slug, entry.guid)
            published = entry.published or current["published"]
            row = _row(source, entry, settings, slug, digest, published, now)
            if row["status"] == PUBLISHED != current["status"]:
                # Published only now (a draft, or back after removal): news from now on.
                row["news_at"] = news.of(entry.published, backlog=False)
            updates.append(row | {"id": current["id"], "removed_at": None})
    if inserts:
        # render_nulls: a None news_at means "never news", not "use the default".
        session.execute(insert(Post).execution_options(render_nulls=True), inserts)
    if updates:
        session.execute(update(Post), updates)
    report.new, report.updated = len(inserts), len(updates) + bring_in_line(session, source, now)
    if batch.present is not None:
        read = {entry.guid for entry in entries}
        report.removed, vouched = _retire(session, source, batch.present, now, read)
        report.unchanged += vouched


def _ids(entries: Iterable[Entry]) -> Iterator[str]:
    """Every id the entries may be stored under: their own, and any former one."""
    for entry in entries:
        yield entry.guid
        if entry.former_guid:
            yield entry.former_guid


def _as_stored(entry: Entry, existing: dict[str, dict[str, Any]]) -> Entry:
    """The entry under the id and slug a post stored before slugs were cut at a word
    boundary has, so it is neither new nor moved."""
    if entry.former_guid and entry.guid not in existing and entry.former_guid in existing:
        entry = dataclasses.replace(entry, guid=entry.former_guid)
    current = existing.get(entry.guid)
    if current and entry.former_slug and _claimed(current["slug"], entry.former_slug):
        entry = dataclasses.replace(entry, slug=entry.former_slug)
    return entry


def _claimed(slug: str, wanted: str) -> bool:
    """Whether `_Slugs.claim(wanted)` could have handed out `slug`."""
    return slug == wanted or re.fullmatch(re.escape(wanted[:190]) + r"-\d+", slug) is not None


def _unique(entries: Iterable[Entry]) -> Iterator[Entry]:
    """Two entries with one GUID are one post: the first one read wins."""
    seen: set[str] = set()
    for entry in entries:
        if entry.guid not in seen:
            seen.add(entry.guid)
            yield entry


def content_hash(entry: Entry) -> str:
    """A fingerprint of everything the source said about the post except its timestamps."""
    said = [
        entry.title,
        entry.content_html,
        entry.url,
        entry.slug,
        list(entry.authors),
        list(entry.tags),
        entry.summary,
        entry.published.isoformat() if entry.published else None,
        entry.draft,
    ]
    if entry.image:  # only when set, so posts stored before images counted hash the same
        said.append(entry.image)
    return hashlib.sha256(json.dumps(said, ensure_ascii=False).encode()).hexdigest()


def _row(
    source: str,
    entry: Entry,
    settings: Settings,
    slug: str,
    digest: str,
    published: datetime,
    now: datetime,
) -> dict[str, Any]:
    text = post_text(entry.title, entry.authors, entry.tags, entry.summary, entry.content_html)
    image, image_alt = lead_image(entry.image, text["content_html"])
    return text | {
        "guid": entry.guid,
        "source": source,
        "slug": slug,
        "status": DRAFT if entry.draft else PUBLISHED,
        "url": stored_url(entry.url, slug),
        "image": image,
        "image_alt": image_alt,
        "content_hash": digest,
        "published": published,
        "dated": entry.published is not None,
        "updated": max(entry.updated or now, published),
    }


def _existing(session: Session, guids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The stored posts among `guids`, fetched in chunks to stay under parameter limits."""
    found: dict[str, dict[str, Any]] = {}
    wanted = list(guids)
    columns = (Post.id, Post.guid, Post.slug, Post.content_hash, Post.status, Post.published)
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        for row in session.execute(select(*columns).where(Post.guid.in_(chunk))):
            found[row.guid] = row._asdict()
    return found


def _retire(
    session: Session, source: str, present: set[str], now: datetime, read: set[str]
) -> tuple[int, int]:
    """Mark this source's posts that are no longer at their origin as removed; how many
    were, and how many others the origin vouched for without this read parsing them."""
    live = session.execute(
        select(Post.id, Post.guid).where(Post.source == source, Post.status != REMOVED)
    )
    gone, vouched = [], 0
    for row in live:
        if row.guid not in present:
            gone.append({"id": row.id, "status": REMOVED, "removed_at": now})
        elif row.guid not in read:
            vouched += 1
    if gone:
        session.execute(update(Post), gone)
    return len(gone), vouched


def _save_state(session: Session, name: str, state: dict[str, Any], now: datetime) -> None:
    """Store the source's state in its row (`_hold_store` made sure there is one)."""
    session.execute(
        update(SourceState).where(SourceState.name == name).values(state=state, last_read=now)
    )


class _Slugs:
    """Hands out slugs unique across all posts: a clash gets `-2`, `-3`, …

    The taken slugs are loaded on the first claim, so a run with nothing new skips it.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._owner: dict[str, str] | None = None

    @property
    def owner(self) -> dict[str, str]:
        if self._owner is None:
            self._owner = dict(self.session.execute(select(Post.slug, Post.guid)).all())
        return self._owner

    def claim(self, wanted: str, guid: str) -> str:
        candidate, counter = wanted, 1
        while self.owner.get(candidate, guid) != guid:
            counter += 1
            candidate = f"{wanted[:190]}-{counter}"
        self.owner[candidate] = guid
        return candidate

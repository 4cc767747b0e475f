"""One refresh: ingest the sources, then bring the feeds up to date.

The CLI's `ingest`, the demo and the scheduler's polling job all go through here, so a
feed reader sees a new post as soon as it is ingested. The build runs every time: it
skips every feed its manifest says is current (a fraction of a second for 10,000 posts),
so an idle poll writes nothing, and a build that failed (a full disk) is finished by the
next refresh even when no post changed since.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.feeds import FeedBuildReport, build_feeds, write_error
from pipeline.ingest import IngestReport, Track, ingest
from pipeline.settings import Settings
from pipeline.storage import Database


@dataclass
class RefreshReport:
    """What a refresh did: one ingest report per source, and the feed build unless it had
    nothing to do for posts that did not change (or why it failed)."""

    sources: list[IngestReport]
    feeds: FeedBuildReport | None
    feeds_error: str | None = None

    @property
    def failed(self) -> bool:
        """Whether anything failed (the command then exits 1)."""
        return (
            any(report.failed for report in self.sources)
            or bool(self.feeds and self.feeds.hub_error)
            or self.feeds_error is not None
        )


def refresh(
    db: Database,
    settings: Settings,
    *,
    only: str | None = None,
    track: Track = list,
    mail_backlog: bool = False,
) -> RefreshReport:
    """Ingest every source (or only the named one), then build what is stale of the feeds;
    a build that cannot write is one line in `feeds_error`. `mail_backlog` mails what a
    source holds at its first ingest as new posts.
    """
    reports = ingest(db, settings, only=only, track=track, mail_backlog=mail_backlog)
    try:
        feeds = build_feeds(db, settings)
    except OSError as exc:
        return RefreshReport(reports, None, write_error(exc, settings.effective_feeds_dir))
    changed = feeds.changed or any(report.changed for report in reports)
    return RefreshReport(reports, feeds if changed else None)

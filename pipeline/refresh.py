"""One refresh: ingest the sources, then rebuild the feeds if any post changed.

The CLI's `ingest`, the demo and the scheduler's polling job all go through here, so a
feed reader sees a new post as soon as it is ingested, and an idle poll writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.feeds import FeedBuildReport, build_feeds
from pipeline.ingest import IngestReport, Track, ingest
from pipeline.settings import Settings
from pipeline.storage import Database


@dataclass
class RefreshReport:
    """What a refresh did: one ingest report per source, and the feed build if one ran."""

    sources: list[IngestReport]
    feeds: FeedBuildReport | None

    @property
    def failed(self) -> bool:
        """Whether anything failed (the command then exits 1)."""
        return any(report.failed for report in self.sources) or bool(
            self.feeds and self.feeds.hub_error
        )


def refresh(
    db: Database,
    settings: Settings,
    *,
    only: str | None = None,
    track: Track = list,
    build_anyway: bool = False,
    mail_backlog: bool = False,
) -> RefreshReport:
    """Ingest every source (or only the named one); rebuild feeds when posts changed.

    `build_anyway` builds even when nothing changed, so feeds exist on a first start;
    the build itself still skips every feed whose posts are unchanged. `mail_backlog`
    mails what a source holds at its first ingest as new posts.
    """
    reports = ingest(db, settings, only=only, track=track, mail_backlog=mail_backlog)
    changed = build_anyway or any(report.changed for report in reports)
    return RefreshReport(reports, build_feeds(db, settings) if changed else None)

"""Sources of posts, one module per kind behind the small interface in `base`."""

from __future__ import annotations

from pathlib import Path

from pipeline.settings import Settings, SourceConfig
from pipeline.sources.base import Batch, Entry, ParseError, Source, SourceError

__all__ = ["Batch", "Entry", "ParseError", "Source", "SourceError", "open_source"]


def open_source(config: SourceConfig, settings: Settings) -> Source:
    """The reader for one entry of SOURCES."""
    if config.kind == "directory":
        from pipeline.sources.directory import DirectorySource

        return DirectorySource(config.name, Path(config.path or "."), timezone=settings.zone)
    from pipeline.sources.http import http_session

    session = http_session(
        timeout=settings.http_timeout,
        retries=settings.http_retries,
        max_bytes=settings.feed_max_bytes,
        deadline=settings.fetch_deadline_seconds,
    )
    if config.kind == "feed":
        from pipeline.sources.feed import FeedSource

        return FeedSource(config.name, str(config.url), session=session)
    from pipeline.sources.wordpress import WordPressSource

    return WordPressSource(config.name, str(config.url), session=session)

"""The mail archive: every run's mail as a public page, listed at `/archive` and in an
Atom feed. Kept by run and blind to what kind of mail it was (digest, per-post mail,
broadcast): the sender keeps the first copy it sends, with no personal slot filled."""

from pipeline.archive.store import (
    ArchiveEntry,
    archive_path,
    archive_url,
    count_entries,
    find_entry,
    keep,
    latest_entries,
    public_html,
)

__all__ = [
    "ArchiveEntry",
    "archive_path",
    "archive_url",
    "count_entries",
    "find_entry",
    "keep",
    "latest_entries",
    "public_html",
]

"""Building the feeds: plan from stamps, render only what changed, clean up what is gone."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.atomic import remove_files, replace_if_changed
from pipeline.feeds.jsonfeed import render_json
from pipeline.feeds.load import load_items, load_stamps
from pipeline.feeds.manifest import read_manifest, write_manifest
from pipeline.feeds.model import Channel, FeedItem, plan_channels
from pipeline.feeds.rss_atom import render_atom, render_rss
from pipeline.feeds.websub import announce_to_hub, hub_session
from pipeline.settings import Settings
from pipeline.storage import Database

Renderer = Callable[[Channel, Sequence[FeedItem]], bytes]
RENDERERS: dict[str, Renderer] = {
    "feed.xml": render_rss,
    "atom.xml": render_atom,
    "feed.json": render_json,
}
FILES = tuple(RENDERERS)
Track = Callable[[Sequence[Channel]], Iterable[Channel]]


@dataclass
class FeedBuildReport:
    """What a build did. A feed is one site/tag/author feed in all three formats."""

    out_dir: Path
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    hub_error: str | None = None

    @property
    def changed(self) -> bool:
        """Whether any feed file was written or removed (what subscribers could notice)."""
        return bool(self.written or self.removed)

    def summary(self) -> str:
        """One line: `feeds: 3 written, 40 unchanged, 1 removed in var/public`."""
        return (
            f"feeds: {len(self.written)} written, {self.unchanged} unchanged,"
            f" {len(self.removed)} removed in {self.out_dir}"
        )


def build_feeds(
    db: Database, settings: Settings, out_dir: Path | None = None, *, track: Track = list
) -> FeedBuildReport:
    """Write the site's, each tag's and each author's feeds into `out_dir` (FEEDS_DIR).

    Feeds whose fingerprint matches the manifest are skipped without loading their
    posts; files whose bytes would not change are left alone; feeds of tags or authors
    without posts are removed. With WEBSUB_HUB set, the hub hears of each written file.
    `track` wraps the feeds being rendered (a progress bar, say).
    """
    root = out_dir or settings.effective_feeds_dir
    report = FeedBuildReport(root)
    channels = plan_channels(settings, load_stamps(db))
    known = read_manifest(root)
    current = {channel.path: channel.fingerprint for channel in channels}
    stale = [c for c in channels if known.get(c.path) != current[c.path] or _incomplete(root, c)]
    report.unchanged = len(channels) - len(stale)
    items = load_items(db, {post for channel in stale for post in channel.ids}, settings.base_url)
    for channel in track(stale):
        posts = [items[post] for post in channel.ids]
        urls = [
            channel.url(name)
            for name, render in RENDERERS.items()
            if replace_if_changed(root / channel.path / name, render(channel, posts))
        ]
        report.urls += urls
        if urls:
            report.written.append(channel.path)
        else:
            report.unchanged += 1
    for path in sorted(known.keys() - current.keys()):
        remove_files(root / path, FILES)
        report.removed.append(path)
    if known != current:
        write_manifest(root, current)
    if settings.websub_hub and report.urls:
        with hub_session(settings) as session:
            report.hub_error = announce_to_hub(settings, report.urls, session)
    return report


def write_error(exc: OSError, root: Path) -> str:
    """A failed build in one line: `cannot write feeds: No space left on device (var/public)`.

    The manifest is written last, so whatever the build did not finish stays stale in it
    and the next build redoes it.
    """
    return f"cannot write feeds: {exc.strerror or exc} ({exc.filename or root})"


def _incomplete(root: Path, channel: Channel) -> bool:
    """Whether a file of the feed is missing (deleted by hand, or a new output folder)."""
    return not all((root / channel.path / name).is_file() for name in FILES)

"""A folder of posts: Markdown with front matter, and plain-text exports of blog pages.

A file whose size and modification time match the last read is not opened again, so a
re-run over thousands of unchanged files costs one `stat` each. A path that cannot be
read (a dangling symlink, a loop, a folder it may not list) is one error line; a folder
it cannot list also means the source cannot tell which posts are gone, so none is retired.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import stat
from collections.abc import Iterator, Mapping
from datetime import tzinfo
from pathlib import Path
from typing import Any

from pipeline.sources.base import Batch, Entry, ParseError, SourceError, derive_guid, identify
from pipeline.sources.markdown import parse_markdown
from pipeline.sources.plaintext import parse_text

MARKDOWN_SUFFIXES = {".md", ".markdown"}
# Jekyll-style file names (2026-01-31-title.md) date the file, not the slug.
_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}-(?=.)")
TEXT_SUFFIXES = {".txt"}


class DirectorySource:
    """Posts from the files under one folder."""

    def __init__(self, name: str, path: Path, *, timezone: tzinfo) -> None:
        self.name = name
        self.path = path
        self.timezone = timezone

    def read(self, state: Mapping[str, Any]) -> Batch:
        """Parse new and changed files; files unchanged since `state` only vouch for their posts."""
        if not self.path.is_dir():
            raise SourceError(f"{self.path}: folder not found")
        known: Mapping[str, Any] = state.get("files", {})
        present: set[str] = set()
        files: dict[str, Any] = {}
        batch = Batch(present=present, state={"files": files})
        unlisted: list[str] = []
        found = list(self._files(batch.errors, unlisted))
        owners = _owners(known, [relative for relative, _ in found])
        for relative, status in found:
            fingerprint = [status.st_mtime_ns, status.st_size]
            previous = known.get(relative)
            if (
                previous
                and previous["fingerprint"] == fingerprint
                and all(owners[guid] == relative for guid in previous["guids"])
            ):
                _keep(present, files, relative, previous)
                continue
            try:
                parsed = self.parse_file(self.path / relative)
            except (ParseError, OSError, UnicodeDecodeError) as exc:
                batch.errors.append(f"{self.path / relative}: {_reason(exc)}")
                if previous:
                    # Keep what the file held before, and retry it next time.
                    _keep(present, files, relative, {**previous, "fingerprint": None})
                continue
            entries = [self._own(entry, relative, owners) for entry in parsed]
            batch.entries.extend(entries)
            # A post stored under its former id is vouched for by that id too.
            guids = [guid for entry in entries for guid in (entry.guid, entry.former_guid) if guid]
            _keep(present, files, relative, {"fingerprint": fingerprint, "guids": guids})
        if unlisted:
            batch.errors.extend(unlisted)
            batch.present = None
        return batch

    def _files(
        self, errors: list[str], unlisted: list[str]
    ) -> Iterator[tuple[str, os.stat_result]]:
        """Each post file under the folder with its `stat`; a file that cannot be reached is
        a line in `errors`, a folder that cannot be listed one in `unlisted`."""

        def cannot_list(exc: OSError) -> None:
            unlisted.append(f"{exc.filename}: cannot list folder ({_reason(exc)})")

        suffixes = MARKDOWN_SUFFIXES | TEXT_SUFFIXES
        for root, folders, names in os.walk(self.path, onerror=cannot_list):
            folders[:] = sorted(folder for folder in folders if not folder.startswith("."))
            for file_name in sorted(names):
                full = Path(root, file_name)
                if file_name.startswith(".") or full.suffix.lower() not in suffixes:
                    continue
                try:
                    status = full.stat()
                except OSError as exc:
                    errors.append(f"{full}: {_unreachable(full, exc)}")
                    continue
                if not stat.S_ISREG(status.st_mode):
                    errors.append(f"{full}: not a regular file")
                    continue
                yield full.relative_to(self.path).as_posix(), status

    def _own(self, entry: Entry, relative: str, owners: dict[str, str]) -> Entry:
        """The entry, with an id of its own if another file already has its derived id.

        Ids derived from a slug clash when two files share one (Jekyll names differing only
        by date); the file that had the id first keeps it, the other's id names its path.
        """
        derived = derive_guid(self.name, guid=None, url=None, slug=entry.slug)
        if entry.guid != derived or owners.setdefault(entry.guid, relative) == relative:
            return entry
        guid = derive_guid(self.name, guid=None, url=None, slug=f"{relative}#{entry.slug}")
        former = entry.former_slug and derive_guid(
            self.name, guid=None, url=None, slug=f"{relative}#{entry.former_slug}"
        )
        owners[guid] = relative
        return dataclasses.replace(entry, guid=guid, former_guid=former or None)

    def parse_file(self, path: Path) -> list[Entry]:
        """The posts in one file (a text export can hold several)."""
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() in MARKDOWN_SUFFIXES:
            return [self._markdown_entry(path, text)]
        return self._text_entries(path, text)

    def _markdown_entry(self, path: Path, text: str) -> Entry:
        post = parse_markdown(text, default_tz=self.timezone)
        ids = identify(
            self.name, post.slug or _DATE_PREFIX.sub("", path.stem), guid=post.guid, url=post.url
        )
        return Entry(
            **ids,
            title=post.title,
            content_html=post.html,
            url=post.url,
            authors=post.authors,
            tags=post.tags,
            summary=post.summary,
            published=post.published,
            updated=post.updated,
            draft=post.draft,
            origin=str(path),
        )

    def _text_entries(self, path: Path, text: str) -> list[Entry]:
        entries = []
        for post in parse_text(text):
            entries.append(
                Entry(
                    **identify(self.name, post.title),
                    title=post.title,
                    content_html=post.html,
                    authors=post.authors,
                    origin=str(path),
                )
            )
        return entries


def _keep(
    present: set[str], files: dict[str, Any], relative: str, record: Mapping[str, Any]
) -> None:
    """Record a file's posts as still present, and its fingerprint for the next read."""
    present.update(record["guids"])
    files[relative] = dict(record)


def _owners(known: Mapping[str, Any], relatives: list[str]) -> dict[str, str]:
    """Which file holds each id the last read recorded, the first in walk order winning."""
    owners: dict[str, str] = {}
    for relative in relatives:
        for guid in known.get(relative, {}).get("guids", ()):
            owners.setdefault(guid, relative)
    return owners


def _unreachable(path: Path, exc: OSError) -> str:
    """Why `stat` failed, in words that say a symlink is at fault when one is."""
    if path.is_symlink():
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        if exc.errno == errno.ENOENT:
            return f"symbolic link to a missing file ({os.readlink(path)})"
    return _reason(exc)


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start})"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)

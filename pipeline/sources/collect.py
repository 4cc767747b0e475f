"""Turning a remote listing into entries, one item at a time.

Shared by the feed and WordPress sources so that a bad item costs one error line, never
the whole batch, and so that both treat a repeated id the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from pipeline.sources.base import Entry, ParseError

Item = TypeVar("Item")


def collect_entries(
    where: str,
    items: Iterable[Item],
    to_entry: Callable[[Item], Entry],
    label: Callable[[Item], object],
) -> tuple[list[Entry], list[str]]:
    """Map each item to an Entry; one that fails becomes `"<where> entry <label>: <reason>"`.

    `label(item)` names the item in that line (its id), or None to fall back to its
    1-based position. Two items with one guid are one post: the first is kept, as a
    feed lists its newest version first.
    """
    entries: list[Entry] = []
    errors: list[str] = []
    seen: set[str] = set()
    for position, item in enumerate(items, start=1):
        try:
            entry = to_entry(item)
        except ParseError as exc:
            name = " ".join(str(label(item) or f"#{position}").split())  # ids may hold newlines
            errors.append(f"{where} entry {name}: {exc}")
            continue
        if entry.guid not in seen:
            seen.add(entry.guid)
            entries.append(entry)
    return entries, errors


def unique(values: Iterable[object]) -> tuple[str, ...]:
    """Distinct non-blank strings in first-seen order: author and tag lists repeat themselves."""
    return tuple(
        dict.fromkeys(value.strip() for value in values if isinstance(value, str) and value.strip())
    )

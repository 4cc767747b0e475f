"""Importing subscribers from CSV, streaming: memory stays flat however long the file.

The first row is a header if it names an email column (in any order and case; other
columns are ignored), else columns are email, name, frequency, timezone, topics. Bad rows
are reported by line and never stop the good ones.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

from subscribers.errors import KeptOut, SubscriberError, shown
from subscribers.formulas import unprotect
from subscribers.models import STATUSES
from subscribers.store import Signup, SubscriberStore
from subscribers.transitions import LEFT

BATCH = 500
REFUSED_KEPT = 1000
_POSITIONAL = {"email": 0, "name": 1, "frequency": 2, "timezone": 3, "topics": 4}
_ALIASES = {
    "email": "email",
    "e mail": "email",
    "email address": "email",
    "e mail address": "email",
    "mail": "email",
    "name": "name",
    "full name": "name",
    "display name": "name",
    "first name": "first_name",
    "given name": "first_name",
    "last name": "last_name",
    "surname": "last_name",
    "family name": "last_name",
    "frequency": "frequency",
    "timezone": "timezone",
    "time zone": "timezone",
    "tz": "timezone",
    "topics": "topics",
    "tags": "topics",
    "status": "status",
}


@dataclass
class ImportReport:
    """What happened to each data row: imported, merged, or refused with a reason.

    Only the first REFUSED_KEPT refusals are kept; `refused_count` counts them all.
    """

    rows: int = 0
    imported: int = 0
    merged: int = 0
    refused_count: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)
    kept_out_count: int = 0
    kept_out: list[tuple[int, str]] = field(default_factory=list)
    header: bool = False

    def refuse(self, line: int, reason: str) -> None:
        self.refused_count += 1
        if len(self.refused) < REFUSED_KEPT:
            self.refused.append((line, reason))

    def keep_out(self, line: int, reason: str) -> None:
        """A person who left the list: not an error in the file, and not brought back."""
        self.kept_out_count += 1
        if len(self.kept_out) < REFUSED_KEPT:
            self.kept_out.append((line, reason))

    def summary(self) -> str:
        return (
            f"{self.imported} imported, {self.merged} merged, "
            f"{self.kept_out_count} kept out, {self.refused_count} refused"
        )


def import_csv(
    stream: TextIO, store: SubscriberStore, *, confirmed: bool, method: str = "import"
) -> ImportReport:
    """Add or merge every row, committing each BATCH rows.

    Open the file with encoding="utf-8-sig", newline="" (a BOM is dropped either way).
    `confirmed` marks rows confirmed unless their status column says pending; rows whose
    status says they left the list are refused, so re-importing an export re-adds no one.
    """
    report = ImportReport()
    columns: dict[str, int] | None = None
    batch: list[tuple[int, Signup]] = []
    for line, cells in _records(stream, report):
        if not any(cell.strip() for cell in cells):
            continue
        if columns is None:
            header = _header_columns(cells)
            columns = header or _POSITIONAL
            if header:
                report.header = True
                continue
        report.rows += 1
        try:
            batch.append((line, _signup(cells, columns, confirmed)))
        except SubscriberError as exc:
            report.refuse(line, str(exc))
        if len(batch) >= BATCH:
            _add(store, batch, method, report)
    _add(store, batch, method, report)
    return report


def _records(stream: TextIO, report: ImportReport) -> Iterator[tuple[int, list[str]]]:
    """(first line number, cells) of each record; an unparsable one is refused on the spot."""
    reader = csv.reader(_lines(stream))
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            report.rows += 1
            report.refuse(line, f"unreadable row: {exc}")
            continue
        yield line, cells


def _lines(stream: TextIO) -> Iterator[str]:
    """The stream's lines without a byte-order mark or NUL characters (csv refuses them)."""
    for number, line in enumerate(stream):
        yield (line.removeprefix("\ufeff") if number == 0 else line).replace("\x00", "")


def _header_columns(cells: list[str]) -> dict[str, int] | None:
    """Field -> column index, if `cells` is a header naming an email column."""
    columns: dict[str, int] = {}
    for index, cell in enumerate(cells):
        label = " ".join(cell.lower().replace("_", " ").replace("-", " ").split())
        if label in _ALIASES:
            columns.setdefault(_ALIASES[label], index)
    return columns if "email" in columns else None


def _signup(cells: list[str], columns: dict[str, int], confirmed: bool) -> Signup:
    def cell(name: str) -> str | None:
        index = columns.get(name)
        value = unprotect(cells[index].strip()) if index is not None and index < len(cells) else ""
        return value or None  # a blank cell keeps what is stored

    status = (cell("status") or "").lower()
    if status and status not in STATUSES:
        raise SubscriberError(f"unknown status {shown(status)}")
    return Signup(
        email=cell("email") or "",
        name=cell("name") or _joined(cell("first_name"), cell("last_name")),
        frequency=cell("frequency"),
        timezone=cell("timezone"),
        topics=cell("topics"),
        confirmed=confirmed and status != "pending",
        left=status if status in LEFT else None,
    )


def _joined(first: str | None, last: str | None) -> str | None:
    """A name from first/last name columns (Mailchimp exports have them)."""
    return " ".join(filter(None, (first, last))) or None


def _add(
    store: SubscriberStore, batch: list[tuple[int, Signup]], method: str, report: ImportReport
) -> None:
    """Add one batch in one transaction and tally it; empties `batch`."""
    results = store.add_many([signup for _, signup in batch], method=method)
    for (line, signup), result in zip(batch, results, strict=True):
        if isinstance(result, KeptOut):
            report.keep_out(line, f"{signup.email.strip()}: {result}")
        elif isinstance(result, SubscriberError):
            report.refuse(line, str(result))
        elif result[1] == "created":
            report.imported += 1
        else:
            report.merged += 1
    batch.clear()

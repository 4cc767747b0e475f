"""Importing subscribers from CSV, streaming: memory stays flat however long the file.

The exports of Mailchimp, Substack, Buttondown, Ghost and listmonk are recognised by
their columns (`subscribers.formats`) and read as those tools mean them. Any other file:
the first row is a header if it names an email column (in any order and case; other
columns are ignored), else columns are email, name, frequency, timezone, topics. Bad rows
are reported by line and never stop the good ones.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from subscribers.errors import KeptOut, SubscriberError, shown
from subscribers.formats import Row, detect
from subscribers.formulas import unprotect
from subscribers.models import STATUSES
from subscribers.profile import clean_topics
from subscribers.store import AddResult, Signup, SubscriberStore
from subscribers.transitions import LEFT

BATCH = 500
REFUSED_KEPT = 1000
PLAIN = "CSV"
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
    "labels": "labels",
    "status": "status",
}
# A plain file's status column, in our words and the usual words of other tools.
_STATUS_WORDS = {
    **{status: status for status in STATUSES},
    "subscribed": "confirmed",
    "active": "confirmed",
    "enabled": "confirmed",
    "unconfirmed": "pending",
    "cleaned": "bounced",
    "blocklisted": "unsubscribed",
    "disabled": "unsubscribed",
}
Show = Callable[[int, str], None]


@dataclass
class ImportReport:
    """What happened to each data row: imported, merged, kept out (the person had left the
    list), or refused with a reason; the tags kept as labels, with how many rows had each;
    and who is pending after it (to be asked to confirm).

    Only the first REFUSED_KEPT refusals and keep-outs are kept; the counts count them all.
    """

    rows: int = 0
    imported: int = 0
    merged: int = 0
    refused_count: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)
    kept_out_count: int = 0
    kept_out: list[tuple[int, str]] = field(default_factory=list)
    labels: Counter[str] = field(default_factory=Counter)
    pending_ids: list[int] = field(default_factory=list)
    header: bool = False
    format: str = PLAIN

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


@dataclass(frozen=True)
class _Import:
    store: SubscriberStore
    report: ImportReport
    confirmed: bool
    method: str
    topics: dict[str, str] | None
    dry_run: bool
    show: Show | None

    def note(self, line: int, text: str) -> None:
        if self.show is not None:
            self.show(line, text)


def import_csv(
    stream: Iterable[str],
    store: SubscriberStore,
    *,
    confirmed: bool,
    method: str = "import",
    site_tags: Iterable[str] | None = None,
    file_name: str = "",
    dry_run: bool = False,
    show: Show | None = None,
) -> ImportReport:
    """Add or merge every row, committing each BATCH rows.

    Open the file with encoding="utf-8-sig", newline="" (a BOM is dropped either way).
    `confirmed` marks subscribed rows confirmed (the importer vouches for their consent);
    rows saying the person left are recorded as such, never mailed. Given `site_tags`,
    tags become topics only where they match one (in any case); the rest are kept as
    labels, so no one is filtered down to posts that do not exist. `file_name` tells
    Mailchimp's per-status files apart. `dry_run` writes nothing; `show(line, text)` is
    told what each row becomes.
    """
    topics = None if site_tags is None else {tag.casefold(): tag for tag in site_tags}
    job = _Import(store, ImportReport(), confirmed, method, topics, dry_run, show)
    report = job.report
    reader: Callable[[list[str]], Row] | None = None
    batch: list[tuple[int, Signup | SubscriberError]] = []
    for line, cells in _records(stream, job):
        if not any(cell.strip() for cell in cells):
            continue
        if reader is None:
            reader, report.format, report.header = _reader(cells, file_name)
            if report.header:
                continue
        report.rows += 1
        try:
            batch.append((line, _signup(reader(cells), job)))
        except SubscriberError as exc:  # told in its place, among the rows around it
            batch.append((line, exc))
        if len(batch) >= BATCH:
            _add(job, batch)
    _add(job, batch)
    return report


def _records(stream: Iterable[str], job: _Import) -> Iterator[tuple[int, list[str]]]:
    """(first line number, cells) of each record; an unparsable one is refused on the spot."""
    reader = csv.reader(_lines(stream))
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            job.report.rows += 1
            job.report.refuse(line, f"unreadable row: {exc}")
            job.note(line, f"refused: unreadable row: {exc}")
            continue
        yield line, [unprotect(cell.strip()) for cell in cells]


def _lines(stream: Iterable[str]) -> Iterator[str]:
    """The stream's lines without a byte-order mark or NUL characters (csv refuses them)."""
    for number, line in enumerate(stream):
        yield (line.removeprefix("\ufeff") if number == 0 else line).replace("\x00", "")


def _reader(cells: list[str], file_name: str) -> tuple[Callable[[list[str]], Row], str, bool]:
    """How to read the rows, given the first: (reader, format name, whether it is a header)."""
    labels = [cell.lower() for cell in cells]
    tool = detect(set(labels), file_name)
    if tool is not None:
        return lambda row: tool.read(dict(zip(labels, row, strict=False))), tool.name, True
    header = _header_columns(cells)
    columns = header or _POSITIONAL
    return lambda row: _plain(row, columns), PLAIN, header is not None


def _header_columns(cells: list[str]) -> dict[str, int] | None:
    """Field -> column index, if `cells` is a header naming an email column."""
    columns: dict[str, int] = {}
    for index, cell in enumerate(cells):
        label = " ".join(cell.lower().replace("_", " ").replace("-", " ").split())
        if label in _ALIASES:
            columns.setdefault(_ALIASES[label], index)
    return columns if "email" in columns else None


def _plain(cells: list[str], columns: dict[str, int]) -> Row:
    def cell(name: str) -> str | None:
        index = columns.get(name)
        return (cells[index] if index is not None and index < len(cells) else "") or None

    word = (cell("status") or "").lower()
    status = _STATUS_WORDS.get(word) if word else "confirmed"
    if status is None:
        raise SubscriberError(f"unknown status {shown(word)}")
    topics = cell("topics")
    return Row(
        email=cell("email") or "",
        name=cell("name") or " ".join(filter(None, (cell("first_name"), cell("last_name")))),
        frequency=cell("frequency"),
        timezone=cell("timezone"),
        tags=clean_topics(topics) if topics else [],
        labels=clean_topics(cell("labels") or ""),
        status=None if status == "confirmed" else status,
    )


def _signup(row: Row, job: _Import) -> Signup:
    """The store's view of a row: tags split into topics and labels, the status honoured."""
    topics, labels = _split(row.tags, job.topics)
    for label in labels:
        job.report.labels[label] += 1
    return Signup(
        email=row.email,
        name=row.name or None,  # a blank cell keeps what is stored
        frequency=row.frequency,
        timezone=row.timezone,
        topics=topics or None,
        confirmed=job.confirmed and row.status is None,
        labels=[*row.labels, *labels],
        left=row.status if row.status in LEFT else None,
        joined=row.joined,
        left_at=row.left_at,
        ip=row.ip,
    )


def _split(tags: list[str], known: dict[str, str] | None) -> tuple[list[str], list[str]]:
    """(topics: the tags that match one of the site's, in its spelling; the other tags)."""
    if known is None:
        return tags, []
    topics = [known[tag.casefold()] for tag in tags if tag.casefold() in known]
    return topics, [tag for tag in tags if tag.casefold() not in known]


def _add(job: _Import, batch: list[tuple[int, Signup | SubscriberError]]) -> None:
    """Add one batch in one transaction (or rehearse it) and tally it; empties `batch`."""
    signups = [item for _, item in batch if isinstance(item, Signup)]
    results = iter(job.store.add_many(signups, method=job.method, dry_run=job.dry_run))
    for line, item in batch:
        if isinstance(item, Signup):
            _tally(job, line, item.email.strip(), next(results))
        else:
            _tally(job, line, "", item)
    batch.clear()


def _tally(job: _Import, line: int, email: str, result: AddResult) -> None:
    report = job.report
    if isinstance(result, KeptOut):
        report.keep_out(line, f"{email}: {result}")
        job.note(line, f"{email}: {result}")
    elif isinstance(result, SubscriberError):
        report.refuse(line, str(result))
        job.note(line, f"refused: {result}")
    else:
        subscriber, outcome = result
        if outcome == "created":
            report.imported += 1
        else:
            report.merged += 1
        if subscriber.status == "pending" and not job.dry_run:
            report.pending_ids.append(subscriber.id)
        if job.show is not None:
            verb = "new" if outcome == "created" else "update"
            details = [subscriber.status, subscriber.frequency]
            if subscriber.topics:
                details.append("topics " + "; ".join(subscriber.topics))
            if subscriber.labels:
                details.append("labels " + "; ".join(subscriber.labels))
            job.note(line, f"{subscriber.email}: {verb}, {', '.join(details)}")

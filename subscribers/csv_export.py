"""Exporting subscribers to CSV (RFC 4180), safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from typing import TextIO

from subscribers.formulas import protect
from subscribers.serialise import subscriber_json
from subscribers.store import SubscriberStore

COLUMNS = (
    "email",
    "name",
    "status",
    "frequency",
    "timezone",
    "topics",
    "labels",
    "created",
    "confirmed_at",
    "unsubscribed_at",
)


def export_csv(store: SubscriberStore, stream: TextIO) -> int:
    """Write every subscriber under a header row, streaming; how many were written.

    Open `stream` with newline="" so the CRLF line ends reach the file unchanged.
    """
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    count = 0
    for subscriber in store.iter_all():
        fields = subscriber_json(subscriber)
        fields["topics"] = ";".join(fields["topics"])
        fields["labels"] = ";".join(fields["labels"])
        writer.writerow(protect(fields[column] or "") for column in COLUMNS)
        count += 1
    return count

"""The `file` backend: each message becomes an .eml file in DATA_DIR/outbox.

For development and the demo: any mail client opens the files. Each file appears whole or
not at all (written to a temporary name, then renamed), so a watcher never reads half a
message.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pipeline.delivery.base import SendResult, delivered, failed
from pipeline.mail.compose import OutgoingMessage

_UNSAFE = re.compile(r"[^A-Za-z0-9@._-]+")


class FileBackend:
    """Writes `<timestamp>-<message-id>.eml` files into `outbox`."""

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        results: list[SendResult] = []
        for message in messages:
            try:
                path = self._write(message)
            except OSError as exc:
                results += failed(message, f"cannot write to {self.outbox}: {exc}", permanent=False)
            else:
                results += delivered(message, provider_id=path.name)
        return results

    def close(self) -> None:
        """Nothing to release."""

    def _write(self, message: OutgoingMessage) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        name = _UNSAFE.sub("_", message.message_id.strip("<>"))[:128]
        path = self.outbox / f"{stamp}-{name}.eml"
        self.outbox.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=self.outbox, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(message.raw)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        return path

"""Sending runs in background threads, so `POST …/send` answers at once with the run.

One thread per run in this process: a repeated request for a run already being sent
starts nothing. Other processes (the scheduler, `digest send`, Celery workers) may drain
the same run side by side; the outbox's claims keep each message to one send. A thread
that dies with the process leaves its claims to whoever looks next once its heartbeat stops.
"""

from __future__ import annotations

import logging
import threading

from pipeline.delivery import check_delivery
from pipeline.outbox import FINISHED, RunStatus, send_run
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.storage.models import DigestRun

log = logging.getLogger(__name__)


def check_backend(settings: Settings) -> None:
    """Raise DeliveryConfigError if EMAIL_BACKEND cannot work (opening connects nothing),
    so a misconfigured backend fails the request before it changes any run."""
    check_delivery(settings)


class Senders:
    """The runs this process is sending, each in its own daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: dict[int, threading.Thread] = {}

    def start(self, db: Database, settings: Settings, run: DigestRun) -> bool:
        """Send `run` in the background unless it is finished, paused or already being
        sent here; whether a thread started."""
        if run.status in FINISHED or run.status == RunStatus.PAUSED:
            return False
        with self._lock:
            if run.id in self._threads:
                return False
            thread = threading.Thread(
                target=self._send, args=(db, settings, run.id), name=f"digest-run-{run.id}"
            )
            thread.daemon = True
            self._threads[run.id] = thread
        thread.start()
        return True

    def join(self, timeout: float | None = None) -> None:
        """Wait for the threads running now (a shutdown, a test)."""
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout)

    def _send(self, db: Database, settings: Settings, run_id: int) -> None:
        try:
            report = send_run(db, settings, run_id)
            log.info("%s", report.summary())
        except Exception:  # a thread has no caller to tell: the log and the run's state do
            log.exception("sending digest run %s stopped", run_id)
        finally:
            with self._lock:
                del self._threads[run_id]

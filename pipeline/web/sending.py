"""Sending runs in background threads, so the API's `POST …/send` and the admin's "send
now" answer at once with the run; with BROKER_URL set, handing them to the workers instead.

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
        sent here; whether a thread started (or the workers were given it)."""
        if run.status in FINISHED or run.status == RunStatus.PAUSED:
            return False
        if settings.broker_url:
            return _hand_over(db, settings, run.id)
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


def _hand_over(db: Database, settings: Settings, run_id: int) -> bool:
    """Give the run to the workers; a broker that is down is logged and the scheduler's
    sweep hands the run over once it is back."""
    from pipeline.workers import dispatch
    from pipeline.workers.dispatch import BrokerUnavailable

    try:
        log.info(
            "run %d: handed to the workers (%d chunk tasks)", run_id, dispatch(db, settings, run_id)
        )
    except BrokerUnavailable as exc:
        log.warning("%s", exc)
        return False
    return True

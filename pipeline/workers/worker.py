"""Running a Celery worker process for this deployment (`newsletter worker`)."""

from __future__ import annotations

import os
import socket

from pipeline.settings import Settings
from pipeline.workers.celery_app import celery_app
from pipeline.workers.tasks import register


def run_worker(settings: Settings, concurrency: int | None) -> None:
    """Consume WORKER_QUEUE until stopped (SIGTERM: finish the running chunks first)."""
    app = celery_app(settings)
    register(app, settings)
    argv = [
        "worker",
        f"--queues={settings.worker_queue}",
        f"--hostname=newsletter-{os.getpid()}@{socket.gethostname()}",
        "--loglevel=INFO",
        "--without-mingle",
        "--task-events",
    ]
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    app.worker_main(argv)

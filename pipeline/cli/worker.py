"""`newsletter worker`: a Celery worker that sends the runs handed over to it."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli.context import database, fail, settings
from pipeline.delivery import check_delivery


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=256, help="Processes sending at once (default: one per CPU)."),
    ] = None,
) -> None:
    """Send digest runs handed over through BROKER_URL, as one of any number of workers.

    Each process claims rows through the outbox like any sender, so workers on several
    machines share a run and a killed one loses nobody's copy.
    """
    config = settings()
    if not config.broker_url:
        fail("NEWSLETTER_BROKER_URL is not set: a worker needs a redis:// or amqp:// broker")
    check_delivery(config)
    database(config).close()  # a database that cannot work stops us before any task
    try:
        from pipeline.workers.worker import run_worker
    except ImportError as exc:
        fail(f"the worker needs Celery: pip install 'newsletter-pipeline[celery]' ({exc})")
    run_worker(config, concurrency)

"""`newsletter serve`: the public web app under uvicorn, and the scheduler beside it."""

from __future__ import annotations

import logging
import signal
import sys
from typing import Annotated

import typer

from pipeline.cli.content import print_refresh
from pipeline.cli.context import database, err, fail, settings
from pipeline.refresh import refresh
from pipeline.scheduling.leader import LEASE_SECONDS, Leader


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    lease_seconds: Annotated[
        float, typer.Option(min=1, hidden=True, help="Scheduler lease length (tests).")
    ] = LEASE_SECONDS,
) -> None:
    """Serve the feeds, the home page, a page per post and /healthz, and run the scheduler.

    The sources are read and the feeds built once before serving, so a first start
    shows the posts straight away. Of several `serve` processes on one database, one
    runs the scheduler; another takes over if it stops.
    """
    # Imported here: the web stack costs a third of a second every other command skips.
    from pipeline.scheduling.service import scheduling
    from pipeline.web import create_app
    from pipeline.web.server import listen, server

    # uvicorn re-raises SIGTERM after its graceful shutdown; exiting instead lets the
    # scheduler stop and hand its lease over at once.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    config = settings()
    try:
        sock = listen(host, port)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    db = database(config)
    try:
        print_refresh(refresh(db, config))
        _log_to_stderr()
        with scheduling(db, config, lease_seconds=lease_seconds) as leader:
            err.print(_leadership(leader), markup=False)
            address = f"[{host}]" if ":" in host else host
            err.print(
                f"Serving http://{address}:{sock.getsockname()[1]} (Ctrl+C to stop)", markup=False
            )
            server(create_app(config, db)).run(sockets=[sock])
    finally:
        db.close()


def _leadership(leader: Leader) -> str:
    if leader.leading:
        return f"Scheduler: this process leads ({leader.holder})"
    current = leader.current() or "another process"
    return f"Scheduler: {current} leads; this process ({leader.holder}) takes over if it stops"


def _log_to_stderr() -> None:
    """The pipeline's log lines (the scheduler's) beside uvicorn's and in its format, URL
    passwords redacted; only warnings from libraries."""
    from uvicorn.logging import DefaultFormatter

    from pipeline.redact import RedactingFilter

    handler = logging.StreamHandler()
    handler.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s"))
    handler.addFilter(RedactingFilter())
    logging.basicConfig(handlers=[handler], level=logging.WARNING)
    logging.getLogger("pipeline").setLevel(logging.INFO)

"""`newsletter serve`: the public web app under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli.content import print_refresh
from pipeline.cli.context import database, err, fail, settings
from pipeline.refresh import refresh


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Serve the feeds, the home page, a page per post and /healthz.

    The sources are read and the feeds built once before serving, so a first start
    shows the posts straight away.
    """
    # Imported here: the web stack costs a third of a second every other command skips.
    from pipeline.web import create_app
    from pipeline.web.server import listen, server

    config = settings()
    try:
        sock = listen(host, port)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    db = database(config)
    print_refresh(refresh(db, config, build_anyway=True))
    address = f"[{host}]" if ":" in host else host
    err.print(f"Serving http://{address}:{sock.getsockname()[1]} (Ctrl+C to stop)", markup=False)
    try:
        server(create_app(config, db)).run(sockets=[sock])
    finally:
        db.close()

"""Running the `newsletter` command as a user would: a real process, a clean environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

NEWSLETTER = str(Path(sys.executable).with_name("newsletter"))
UMASK = 0o022  # the usual one: files are world-readable unless the command says otherwise


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any NEWSLETTER_ variable, plus `settings`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    environment.update({f"NEWSLETTER_{key}": value for key, value in settings.items()})
    return environment


def run(*args: str, cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """`newsletter ARGS` in `cwd` with NEWSLETTER_<KEY>=value for each of `settings`."""
    return subprocess.run(
        [NEWSLETTER, *args],
        cwd=cwd,
        env=clean_environment(**settings),
        capture_output=True,
        text=True,
        timeout=120,
        umask=UMASK,
    )


@contextmanager
def serving(cwd: Path, **settings: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`newsletter serve` on a free port, once it answers: the process and its base URL.

    The process is stopped on exit; its output (stdout and stderr) can then be read
    from its `.stdout`.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [NEWSLETTER, "serve", "--port", str(port)],
        cwd=cwd,
        env=clean_environment(**settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        umask=UMASK,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while server.poll() is None and time.monotonic() < deadline:
            try:
                requests.get(f"{base}/healthz", timeout=2)
                break
            except (requests.ConnectionError, requests.Timeout):  # listening, not answering yet
                time.sleep(0.2)
        else:
            raise AssertionError(f"serve did not start: {server.communicate(timeout=10)[0]}")
        yield server, base
    finally:
        if server.poll() is None:
            server.terminate()
        server.wait(timeout=10)

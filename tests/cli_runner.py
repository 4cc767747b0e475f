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
CONTENT = Path(__file__).resolve().parents[1] / "content"
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


def prepared(tmp_path: Path) -> Path:
    """A working folder with the bundled content ingested (its back catalogue mailed) and
    two confirmed subscribers."""
    (tmp_path / "content").symlink_to(CONTENT)
    assert run("ingest", "--mail-backlog", cwd=tmp_path).returncode == 0
    run("subscribers", "add", "ann@example.org", "--name", "Ann", "--confirmed", cwd=tmp_path)
    run("subscribers", "add", "bo@example.org", "--frequency", "daily", "--confirmed", cwd=tmp_path)
    run("subscribers", "add", "pending@example.org", cwd=tmp_path)
    return tmp_path / "var" / "outbox"


def delivered(outbox: Path) -> list[Path]:
    """The mails in the outbox but the pending subscriber's request to confirm."""
    return [
        eml
        for eml in sorted(outbox.glob("*.eml"))
        if b"To: pending@example.org" not in eml.read_bytes()
    ]


def start_sending(cwd: Path, settings: dict[str, str]) -> subprocess.Popen[str]:
    """`newsletter digest send --yes` started in `cwd` (to be waited for, or killed)."""
    return subprocess.Popen(
        [NEWSLETTER, "digest", "send", "--yes"],
        cwd=cwd,
        env=clean_environment(**settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

"""Two `newsletter serve` processes on one SQLite file: exactly one runs the scheduler,
and when it dies the other takes over within the lease (shortened here to 2 s)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

from cli_runner import NEWSLETTER, clean_environment, run
from sqlalchemy import select, text

from pipeline.scheduling.scheduler import JOBS_TABLE
from pipeline.storage import open_database
from pipeline.storage.models import SchedulerLease

LEASE = 2.0


class Serve:
    """A `newsletter serve` process, and the lines it has printed so far."""

    def __init__(self, cwd: Path, environment: dict[str, str]) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [NEWSLETTER, "serve", "--port", str(port), "--lease-seconds", str(LEASE)],
            cwd=cwd,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def line_with(self, words: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if words in line:
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no line with {words!r} in:\n" + "\n".join(self.lines))


def holder_pid(url: str) -> int | None:
    """The pid in the lease's holder id (host:pid:nonce), if anyone holds it."""
    db = open_database(url)
    try:
        with db.session() as session:
            holder = session.scalar(select(SchedulerLease.holder))
    finally:
        db.close()
    return int(holder.split(":")[1]) if holder else None


def test_one_of_two_serve_processes_leads_and_the_other_takes_over(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    (tmp_path / "content").mkdir()
    assert run("init", cwd=tmp_path, DATABASE_URL=url).returncode == 0
    servers = [Serve(tmp_path, clean_environment(DATABASE_URL=url)) for _ in range(2)]
    try:
        said = [server.line_with("Scheduler: ") for server in servers]
        leads = ["this process leads" in line for line in said]
        assert leads.count(True) == 1
        leader, follower = servers if leads[0] else reversed(servers)
        assert "takes over if it stops" in said[servers.index(follower)]
        assert holder_pid(url) == leader.process.pid
        db = open_database(url)
        with db.engine.connect() as connection:
            jobs = set(connection.execute(text(f"SELECT id FROM {JOBS_TABLE}")).scalars())
        db.close()
        assert jobs == {
            "poll",
            "drain",
            "clean-up",
            "digest-daily",
            "digest-weekly",
            "digest-monthly",
        }

        leader.process.kill()  # dies without letting go of the lease
        leader.process.wait(timeout=10)
        # The lease runs out at most LEASE after the kill; the follower looks every LEASE / 3.
        deadline = time.monotonic() + LEASE * 4 / 3 + 30  # slack for a loaded machine
        while holder_pid(url) != follower.process.pid and time.monotonic() < deadline:
            time.sleep(0.1)
        assert holder_pid(url) == follower.process.pid
        follower.line_with("now leads", timeout=5)
        follower.line_with("scheduler started", timeout=5)

        follower.process.terminate()  # a clean stop lets go at once
        assert follower.process.wait(timeout=20) == 0
        assert holder_pid(url) is None
    finally:
        for server in servers:
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait()

"""A send kept to a CPU of its own (pipeline.cpus), on this machine's real CPUs."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cli_runner import delivered, prepared, run
from helpers import NOW, add_post, add_subscriber, received_by
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from smtp_server import SMTPServer
from test_delivery_api import accepted, serve

from pipeline.cpus import CLAIMS, Elsewhere, one_cpu, others
from pipeline.delivery import Backend, open_backend
from pipeline.digest.runs import start_run
from pipeline.outbox import send_run
from pipeline.settings import Settings
from pipeline.storage import Database


def two_cpus_or_skip() -> set[int]:
    allowed = os.sched_getaffinity(0)
    if len(allowed) < 2:
        pytest.skip("needs two CPUs")
    return allowed


def test_a_send_keeps_to_one_cpu_with_the_threads_it_starts_until_it_ends(
    tmp_path: Path,
) -> None:
    allowed = two_cpus_or_skip()
    seen: dict[str, set[int]] = {}
    started_inside, go = threading.Event(), threading.Event()

    def helper() -> None:
        seen["helper"] = os.sched_getaffinity(0)
        started_inside.set()
        go.wait()

    thread = threading.Thread(target=helper, daemon=True)
    try:
        with one_cpu(tmp_path) as cpu:
            assert cpu in allowed
            assert os.sched_getaffinity(0) == {cpu}
            thread.start()
            started_inside.wait()
            assert seen["helper"] == {cpu}
            assert others() == Elsewhere(frozenset(allowed - {cpu}), lowest=False)
        assert os.sched_getaffinity(0) == allowed
        assert os.sched_getaffinity(thread.native_id or 0) == allowed  # still running, let go
        assert others() is None
    finally:
        go.set()


def test_two_sends_never_keep_to_the_same_cpu_and_one_finding_none_free_runs_anywhere(
    tmp_path: Path,
) -> None:
    allowed = two_cpus_or_skip()
    claimed: list[int | None] = []
    holding, done = threading.Semaphore(0), threading.Event()

    def send() -> None:
        with one_cpu(tmp_path) as cpu:
            claimed.append(cpu)
            claimed_affinity = os.sched_getaffinity(0)
            assert claimed_affinity == ({cpu} if cpu is not None else allowed)
            holding.release()
            done.wait()

    threads = [threading.Thread(target=send, daemon=True) for _ in range(len(allowed) + 1)]
    try:
        for thread in threads:
            thread.start()
            holding.acquire()
    finally:
        done.set()
        for thread in threads:
            thread.join()
    kept = [cpu for cpu in claimed if cpu is not None]
    assert sorted(kept) == sorted(allowed)  # every CPU once
    assert claimed.count(None) == 1


@contextmanager
def claimed_elsewhere(folder: Path, cpus: Iterable[int]) -> Iterator[None]:
    """Another process holding the claims of `cpus` in `folder` (a CLAIMS folder there),
    until it is killed with SIGKILL on the way out, as a sender that crashed."""
    (folder / CLAIMS).mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys\n"
            "files = [open(path, 'ab') for path in sys.argv[1:]]\n"
            "for file in files: fcntl.flock(file, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "sys.stdin.read()\n",
            *(str(folder / CLAIMS / f"{cpu}.lock") for cpu in cpus),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline() == "held\n"
        yield
    finally:
        holder.kill()
        holder.wait(timeout=10)


def every_claim_free(folder: Path) -> bool:
    """Whether no process holds any claim in `folder`."""
    for lock in (folder / CLAIMS).iterdir():
        with lock.open("ab") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False
    return True


def test_a_cpu_another_process_claimed_is_left_to_it_until_it_is_killed(
    tmp_path: Path,
) -> None:
    allowed = two_cpus_or_skip()
    free = max(allowed)
    with claimed_elsewhere(tmp_path, allowed - {free}):
        assert not every_claim_free(tmp_path)
        with one_cpu(tmp_path) as cpu:
            assert cpu == free
    assert every_claim_free(tmp_path)  # killed: its claims went with it
    with one_cpu(tmp_path) as cpu:
        assert cpu is not None


def test_a_digest_send_while_other_sends_hold_every_cpu_runs_anywhere(tmp_path: Path) -> None:
    """`digest send` from the shell, every CPU claimed by another process: the send goes
    out all the same, kept to no CPU."""
    allowed = two_cpus_or_skip()
    outbox = prepared(tmp_path)
    with claimed_elsewhere(tmp_path / "var", allowed):
        sent = run("digest", "send", "--yes", cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert "(done)" in sent.stdout
    assert len(delivered(outbox)) == 1


def test_helpers_run_on_the_cpus_no_send_holds_or_else_at_the_lowest_priority(
    tmp_path: Path,
) -> None:
    allowed = two_cpus_or_skip()
    holding, done = threading.Event(), threading.Event()
    theirs: list[int | None] = []

    def another_send() -> None:
        with one_cpu(tmp_path) as cpu:
            theirs.append(cpu)
            holding.set()
            done.wait()

    with one_cpu(tmp_path) as mine:
        assert mine is not None
        assert others() == Elsewhere(frozenset(allowed - {mine}), lowest=False)
        other = threading.Thread(target=another_send, daemon=True)
        other.start()
        try:
            holding.wait()
            rest = frozenset(allowed - {mine})
            free = rest - set(theirs)
            expected = Elsewhere(free, lowest=False) if free else Elsewhere(rest, lowest=True)
            assert others() == expected
        finally:
            done.set()
            other.join()
        assert others() == Elsewhere(frozenset(allowed - {mine}), lowest=False)


def test_a_cpu_that_cannot_be_kept_to_leaves_the_send_where_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the system refuses (a sandbox, or the CPU was taken away meanwhile), the
    send runs where it was, and its claim ends."""
    allowed = two_cpus_or_skip()

    def refused(pid: int, cpus: Iterable[int]) -> None:
        raise PermissionError("not allowed")

    with monkeypatch.context() as patched:
        patched.setattr(os, "sched_setaffinity", refused)
        with one_cpu(tmp_path) as cpu:
            assert cpu is None and os.sched_getaffinity(0) == allowed
    assert every_claim_free(tmp_path)  # nothing left held


def test_a_send_inside_a_send_and_a_folder_that_cannot_hold_claims_change_nothing(
    tmp_path: Path,
) -> None:
    allowed = two_cpus_or_skip()
    with ExitStack() as stack:
        cpu = stack.enter_context(one_cpu(tmp_path))
        with one_cpu(tmp_path) as inner:
            assert inner is None
        assert os.sched_getaffinity(0) == {cpu}  # the enclosing send's, still
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with one_cpu(not_a_folder) as cpu:
        assert cpu is None
        assert os.sched_getaffinity(0) == allowed


def sent_with_affinity(
    db: Database, settings: Settings, backend: Backend | None = None, when: datetime = NOW
) -> tuple[list[set[int]], set[int]]:
    """A run to two readers sent one message a batch: after each batch the CPUs of the
    sending thread and of the SMTP pool's threads; and the sending thread's after."""
    add_post(db, f"Post of {when:%F}", when - timedelta(hours=3))
    for number in range(2):
        add_subscriber(db, f"reader{number}@example.org")
    run = start_run(db, settings, "weekly", when).run
    during: list[set[int]] = []

    def seen(_: object) -> None:
        during.append(os.sched_getaffinity(0))
        for thread in threading.enumerate():
            if thread.name.startswith("smtp-") and thread.native_id is not None:
                during.append(os.sched_getaffinity(thread.native_id))

    report = send_run(
        db, settings, run.id, backend=backend, clock=lambda: when, batch_size=1, progress=seen
    )
    assert (report.status, report.sent) == ("done", 2)
    return during, os.sched_getaffinity(0)


def test_an_smtp_send_keeps_to_one_cpu_while_it_sends(
    db: Database, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    allowed = two_cpus_or_skip()
    during, after = sent_with_affinity(db, smtp_settings)
    assert len(during) >= 3 and all(len(cpus) == 1 and cpus < allowed for cpus in during)
    assert after == allowed
    assert received_by(smtp_server) == {"reader0@example.org": 1, "reader1@example.org": 1}


def test_a_pool_kept_from_send_to_send_works_on_the_cpu_of_each(
    db: Database, smtp_settings: Settings, smtp_server: SMTPServer
) -> None:
    """The scheduler keeps one SMTP pool for its sends: threads the first send started
    keep to the CPU of the next one, not to none or to the first one's."""
    allowed = two_cpus_or_skip()
    with open_backend(smtp_settings) as pool:
        first, _ = sent_with_affinity(db, smtp_settings, pool)
        later, after = sent_with_affinity(db, smtp_settings, pool, NOW + timedelta(days=7))
    for during in (first, later):
        assert len(during) >= 3 and len({frozenset(cpus) for cpus in during}) == 1
        assert len(during[0]) == 1
    assert after == allowed
    assert len(smtp_server.received) == 4


def test_an_email_api_send_runs_where_the_system_puts_it(
    db: Database, settings: Settings, httpserver: HTTPServer
) -> None:
    allowed = two_cpus_or_skip()
    seen = serve(httpserver, "postmark", accepted("postmark"))
    api = settings.model_copy(
        update={
            "email_backend": "postmark",
            "api_key": SecretStr("key"),
            "api_base_url": httpserver.url_for("/"),
        }
    )
    during, after = sent_with_affinity(db, api)
    assert during == [allowed, allowed] and after == allowed
    assert len(seen) == 2

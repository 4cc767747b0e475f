"""A send kept to a CPU of its own (pipeline.cpus), on this machine's real CPUs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from contextlib import ExitStack
from pathlib import Path

import pytest

from pipeline.cpus import CLAIMS, one_cpu, others


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

    with one_cpu(tmp_path) as cpu:
        assert cpu in allowed
        assert os.sched_getaffinity(0) == {cpu}
        thread = threading.Thread(target=helper)
        thread.start()
        started_inside.wait()
        assert seen["helper"] == {cpu}
        assert others() == allowed - {cpu}
    try:
        assert os.sched_getaffinity(0) == allowed
        assert os.sched_getaffinity(thread.native_id or 0) == allowed  # still running, let go
        assert others() is None
    finally:
        go.set()
        thread.join()


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

    threads = [threading.Thread(target=send) for _ in range(len(allowed) + 1)]
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


def test_a_cpu_another_process_claimed_is_left_to_it(tmp_path: Path) -> None:
    allowed = two_cpus_or_skip()
    free = max(allowed)
    (tmp_path / CLAIMS).mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys\n"
            "files = [open(path, 'ab') for path in sys.argv[1:]]\n"
            "for file in files: fcntl.flock(file, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "sys.stdin.read()\n",
            *(str(tmp_path / CLAIMS / f"{cpu}.lock") for cpu in allowed - {free}),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline() == "held\n"
        with one_cpu(tmp_path) as cpu:
            assert cpu == free
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    with one_cpu(tmp_path) as cpu:  # the holder ended: its claims went with it
        assert cpu is not None


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

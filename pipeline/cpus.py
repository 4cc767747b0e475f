"""A send's threads kept to one CPU of their own, and its DKIM key processes to the others.

A send's threads (its connections, the writer, the one preparing the next batch) take
turns under one GIL. Spread over CPUs, every hand-over wakes a thread on another CPU (on
a virtual machine, an interrupt between CPUs that costs the host dearly); kept to one
CPU, a hand-over is a switch. On two CPUs, 20,000 copies (bench/send.py) took 4.7 s
instead of 6.4 s, with 30% less CPU; signed, 7.0 s instead of 8.4 s, the key processes
signing on the other CPU, where the send's threads no longer interrupt them.

Only a send that hands the bytes over itself keeps to one CPU (SMTP, whose pool has a
thread per connection; the file and console backends): an email API's requests go from one
thread, and such a send gains nothing and loses the other CPUs for its database writes
(Postmark into a local stub: 10,200 a second kept to one CPU, 10,600 not). Key processes
run on the CPUs no other send holds; with none left, on all the others at the lowest
priority, so that they never slow another send.

The CPU is claimed by locking a file in DATA_DIR, a lock the system lets go when the
process ends: two sends on one host (two processes, or two threads of `serve`) never keep
to the same CPU. With one CPU, none left unclaimed, or no affinity calls (not Linux), a
send runs where the system puts it, as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, NamedTuple

CLAIMS = "cpus"  # the folder of DATA_DIR holding a lock file per CPU
_held: dict[int, tuple[frozenset[int], Path]] = {}  # each CPU a send here keeps to: what
_lock = threading.Lock()  # it could use, and where it claimed it


class Elsewhere(NamedTuple):
    """Where a send's helper processes run: `cpus`, all but the send's; `lowest`, at the
    lowest priority, when another send keeps to one of them."""

    cpus: frozenset[int]
    lowest: bool


@contextlib.contextmanager
def one_cpu(folder: Path) -> Iterator[int | None]:
    """Keep the calling thread, and the threads it starts meanwhile, to a CPU no other
    send holds (claimed in `folder`); yields that CPU, or None where the send is not
    kept to one. Afterwards they may run anywhere they could before."""
    claim = _claim(folder)
    if claim is not None:
        cpu, allowed, handle = claim
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError:  # not allowed here (a sandbox), or that CPU was taken away
            claim = None
            _let_go(cpu, allowed, handle)
    if claim is None:
        yield None
        return
    try:
        yield cpu
    finally:
        _let_go(cpu, allowed, handle)


def others() -> Elsewhere | None:
    """Where the helper processes (DKIM's key processes) of the calling thread's send
    run, if it keeps to a CPU of its own: on the other CPUs, of which those no other
    send holds if there are any; else None."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    mine = os.sched_getaffinity(0)
    if len(mine) != 1:
        return None
    [cpu] = mine
    with _lock:
        held = _held.get(cpu)
    if held is None:
        return None
    allowed, folder = held
    rest = allowed - {cpu}
    free = frozenset(other for other in rest if not _claimed(folder, other))
    return Elsewhere(free, lowest=False) if free else Elsewhere(rest, lowest=True)


def where() -> frozenset[int] | None:
    """The CPUs the calling thread may use (None without affinity calls)."""
    return frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


def follow(cpus: frozenset[int] | None) -> None:
    """Let the calling thread use `cpus`, those of the thread that hands it work (`where`
    there): a pool's threads, started during one send, then work for the next ones."""
    if cpus is not None and cpus != where():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, cpus)


def _claim(folder: Path) -> tuple[int, frozenset[int], IO[bytes]] | None:
    """A CPU no other send holds, first the one this thread runs on: the CPU, those the
    thread may use now, and the locked file that claims it."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = frozenset(os.sched_getaffinity(0))
    if len(allowed) < 2:  # one CPU, or already kept to one by an enclosing send
        return None
    here = _current()
    try:
        (folder / CLAIMS).mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    for cpu in sorted(allowed, key=lambda cpu: cpu != here):
        try:
            handle = (folder / CLAIMS / f"{cpu}.lock").open("ab")
        except OSError:
            return None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another send keeps to it
            handle.close()
            continue
        with _lock:
            _held[cpu] = (allowed, folder)
        return cpu, allowed, handle
    return None


def _claimed(folder: Path, cpu: int) -> bool:
    """Whether another send holds `cpu` (its lock is taken)."""
    try:
        with (folder / CLAIMS / f"{cpu}.lock").open("ab") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError:
        return False
    return False


def _let_go(cpu: int, allowed: frozenset[int], handle: IO[bytes]) -> None:
    """The calling thread, and every other thread of this process kept to `cpu` (those
    the send started), may use `allowed` again; then the claim ends."""
    try:
        with _lock:
            _held.pop(cpu, None)
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, allowed)
        with contextlib.suppress(OSError):  # no /proc: only the calling thread is let go
            for task in Path("/proc/self/task").iterdir():
                with contextlib.suppress(OSError, ValueError):  # a thread that ended meanwhile
                    if os.sched_getaffinity(int(task.name)) == {cpu}:
                        os.sched_setaffinity(int(task.name), allowed)
    finally:
        handle.close()


def _current() -> int | None:
    """The CPU the calling thread runs on (Linux's /proc), or None."""
    try:
        with open("/proc/thread-self/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[36])  # field 39: processor
    except (OSError, ValueError, IndexError):
        return None

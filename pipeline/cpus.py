"""A send's threads kept to one CPU of their own, and its DKIM key processes to the others.

A send's threads (its connections, the writer, the one preparing the next batch) take
turns under one GIL. Spread over CPUs, every hand-over wakes a thread on another CPU (on
a virtual machine, an interrupt between CPUs that costs the host dearly); kept to one
CPU, a hand-over is a switch. On two CPUs, 20,000 copies (bench/send.py) took 4.7 s
instead of 6.4 s, with 30% less CPU; signed, 7.0 s instead of 8.4 s, the key processes
signing on the other CPU, where the send's threads no longer interrupt them.

Only a send whose connections each have a thread (SMTP's pool) keeps to one CPU: an email
API's requests go from one thread, and such a send gains nothing and loses the other CPUs
for its database writes (Postmark into a local stub: 10,200 a second kept to one CPU,
10,600 not).

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
from typing import IO

CLAIMS = "cpus"  # the folder of DATA_DIR holding a lock file per CPU
_held: dict[int, frozenset[int]] = {}  # each CPU a send here keeps to: what it could use
_lock = threading.Lock()


@contextlib.contextmanager
def one_cpu(folder: Path) -> Iterator[int | None]:
    """Keep the calling thread, and the threads it starts meanwhile, to a CPU no other
    send holds (claimed in `folder`); yields that CPU, or None where the send is not
    kept to one. Afterwards they may run anywhere they could before."""
    claim = _claim(folder)
    if claim is None:
        yield None
        return
    cpu, allowed, handle = claim
    try:
        os.sched_setaffinity(0, {cpu})
        yield cpu
    finally:
        _let_go(cpu, allowed)
        handle.close()


def others() -> frozenset[int] | None:
    """The CPUs left for helper processes (DKIM's key processes) of the calling thread's
    send, if it keeps to a CPU of its own; else None."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    mine = os.sched_getaffinity(0)
    if len(mine) != 1:
        return None
    [cpu] = mine
    with _lock:
        allowed = _held.get(cpu)
    return None if allowed is None else allowed - {cpu}


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
            _held[cpu] = allowed
        return cpu, allowed, handle
    return None


def _let_go(cpu: int, allowed: frozenset[int]) -> None:
    """Every thread of this process kept to `cpu` (the send's) may use `allowed` again."""
    with _lock:
        _held.pop(cpu, None)
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError, ValueError):  # a thread that ended meanwhile
            if os.sched_getaffinity(int(task.name)) == {cpu}:
                os.sched_setaffinity(int(task.name), allowed)


def _current() -> int | None:
    """The CPU the calling thread runs on (Linux's /proc), or None."""
    try:
        with open("/proc/thread-self/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[36])  # field 39: processor
    except (OSError, ValueError, IndexError):
        return None

"""What the send benchmarks measure against: Postfix's smtp-sink as the relay, and raw
smtplib pushing one prebuilt message's bytes over as many connections as ours uses.

Used by bench/send.py and bench/wire.py, each in its own phase process.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
SMTP_SINK = "/usr/sbin/smtp-sink"
_COUNTER = re.compile(rb"mesg=(\d+)")


def cpu_seconds() -> float:
    """CPU time so far, all threads, user and system, of this process and of the child
    processes it has waited for (DKIM's key processes)."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


def push_raw(port: int, sender: str, raw: bytes, count: int, connections: int) -> dict[str, Any]:
    """`raw` sent `count` times with `smtplib.SMTP.sendmail`, one thread per connection."""
    numbers = iter(range(count))  # next() is atomic under the GIL: a shared work queue
    sent = [0] * connections

    def push(worker: int) -> None:
        with smtplib.SMTP(HOST, port, timeout=30) as smtp:
            for number in numbers:
                smtp.sendmail(sender, [f"reader{number}@example.org"], raw)
                sent[worker] += 1

    threads = [threading.Thread(target=push, args=(worker,)) for worker in range(connections)]
    started, cpu = time.perf_counter(), cpu_seconds()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "messages": sum(sent),
        "seconds": time.perf_counter() - started,
        "cpu_seconds": cpu_seconds() - cpu,
        "bytes": len(raw),
    }


@contextlib.contextmanager
def smtp_sink(pipelining: bool = True) -> Iterator[dict[str, Any]]:
    """Postfix's smtp-sink on a free loopback port (as nobody when run as root); yields
    `{"port": …}`, to which `messages` (how many it accepted) and `cpu_seconds` are added
    when it stops."""
    if not Path(SMTP_SINK).exists():
        raise SystemExit(f"{SMTP_SINK} not found: install Debian's postfix package")
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    command = [SMTP_SINK, "-c", *(["-u", "nobody"] if os.geteuid() == 0 else [])]
    command += [*([] if pipelining else ["-p"]), f"{HOST}:{port}", "256"]
    state: dict[str, Any] = {"port": port}
    with tempfile.TemporaryFile() as counters:  # a pipe would fill up and stall the sink
        sink = subprocess.Popen(command, stdout=counters)
        try:
            for _ in range(100):
                with contextlib.suppress(OSError), socket.create_connection((HOST, port), 1):
                    break
                time.sleep(0.05)
            yield state
        finally:
            stat = Path(f"/proc/{sink.pid}/stat").read_text()
            sink.terminate()
            sink.wait(timeout=10)
        counters.seek(0)
        counts = _COUNTER.findall(counters.read())
    ticks = stat.rsplit(")", 1)[1].split()[11:13]  # utime and stime
    state["cpu_seconds"] = sum(map(int, ticks)) / os.sysconf("SC_CLK_TCK")
    state["messages"] = int(counts[-1]) if counts else 0

"""Web benchmark: conditional GETs of /feed.xml answered 304, beside plain 200 GETs.

Feed readers poll with If-None-Match, so a 304 should cost next to nothing. The server
is `newsletter serve` (one uvicorn process) in a subprocess on a free loopback port, with
a 50-item feed.xml; the load comes from `wrk` when installed, else from a pool of
`requests` sessions in threads. Figures are printed, never asserted; compare the ratio,
not the rates, across machines.

    .venv/bin/python -P bench/web.py [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import requests

HOST = "127.0.0.1"
PARAGRAPH = "Councils that publish their spending data see more questions, and better ones. " * 12


@dataclass(frozen=True)
class Result:
    """One measured phase: responses per second, and responses with another status."""

    rate: float
    unexpected: int
    detail: str = ""


def write_feed(folder: Path, items: int = 50) -> Path:
    """A feed.xml the size the builder writes by default (FEED_MAX_ITEMS=50, full content)."""
    entries = "".join(
        f"<item><title>Post {n}</title><link>http://{HOST}/posts/post-{n}</link>"
        f"<guid>http://{HOST}/posts/post-{n}</guid><description><![CDATA[<p>{PARAGRAPH}</p>"
        f"<p>{PARAGRAPH}</p>]]></description></item>"
        for n in range(items)
    )
    feed = folder / "feed.xml"
    feed.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Bench</title>'
        f"<link>http://{HOST}/</link><description>Bench</description>{entries}</channel></rss>\n",
        encoding="utf-8",
    )
    return feed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def start_server(scratch: Path, port: int) -> subprocess.Popen[bytes]:
    """`newsletter serve` in a subprocess, on the scratch folder's database and feeds."""
    env = {
        **os.environ,
        "NEWSLETTER_DATA_DIR": str(scratch),
        "NEWSLETTER_FEEDS_DIR": str(scratch / "public"),
    }
    log = (scratch / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port)], env=env, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and server.poll() is None:
        try:
            requests.get(f"http://{HOST}:{port}/healthz", timeout=1).raise_for_status()
            return server
        except requests.RequestException:
            time.sleep(0.1)
    server.kill()
    sys.exit(f"the server did not start:\n{(scratch / 'server.log').read_text()}")


def with_wrk(url: str, etag: str | None, seconds: int, connections: int, scratch: Path) -> Result:
    """Requests per second as wrk counts them; a Lua script adds If-None-Match."""
    command = ["wrk", f"-t{min(4, connections)}", f"-c{connections}", f"-d{seconds}s"]
    if etag:
        script = scratch / "conditional.lua"
        script.write_text(f'wrk.headers["If-None-Match"] = [[{etag}]]\n', encoding="utf-8")
        command += ["-s", str(script)]
    report = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1))
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", report)
    latency = re.search(r"Latency\s+(\S+)", report)
    return Result(rate, int(errors.group(1)) if errors else 0, f"avg latency {latency.group(1)}")


def with_threads(url: str, etag: str | None, seconds: int, connections: int) -> Result:
    """Requests per second from `connections` threads, each with its own keep-alive session."""
    # Like wrk: no Accept-Encoding, so the 200s are the plain file.
    headers = {"Accept-Encoding": "identity", **({"If-None-Match": etag} if etag else {})}
    expected = 304 if etag else 200
    deadline = time.monotonic() + seconds

    def worker() -> tuple[int, int]:
        done = unexpected = 0
        with requests.Session() as session:
            while time.monotonic() < deadline:
                response = session.get(url, headers=headers, timeout=10)
                done += 1
                unexpected += response.status_code != expected
        return done, unexpected

    with ThreadPoolExecutor(connections) as pool:
        counts = list(pool.map(lambda _: worker(), range(connections)))
    return Result(sum(done for done, _ in counts) / seconds, sum(bad for _, bad in counts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each phase")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        from pipeline.cli.serve import serve

        serve(HOST, args.serve)
        return
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        (scratch / "public").mkdir()
        size = write_feed(scratch / "public").stat().st_size
        port = free_port()
        url = f"http://{HOST}:{port}/feed.xml"
        server = start_server(scratch, port)
        try:
            etag = requests.get(url, timeout=10).headers["ETag"]
            wrk = shutil.which("wrk")
            measure = partial(with_wrk, scratch=scratch) if wrk else with_threads
            client = "wrk" if wrk else "requests in threads"
            print(
                f"feed.xml {size:,} bytes; one uvicorn process; {client}, "
                f"{args.connections} connections, {args.seconds} s per phase"
            )
            results = []
            for name, tag in (("304 If-None-Match", etag), ("200 plain GET", None)):
                result = measure(url, tag, args.seconds, args.connections)
                results.append(result)
                print(
                    f"{name:>18}: {result.rate:9,.0f} req/s  {result.detail}"
                    f"  unexpected statuses: {result.unexpected}"
                )
        finally:
            server.terminate()
            server.wait(timeout=10)
    conditional, plain = results
    print(f"a 304 is served {conditional.rate / plain.rate:.1f}x as fast as a full 200")


if __name__ == "__main__":
    main()

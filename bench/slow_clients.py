"""Slow-client benchmark: connections that trickle their request headers one byte a second
at `newsletter serve`, and how many the server has closed after a while.

Without read deadlines every such connection is held for as long as the client likes;
with them the server closes each after its header deadline. Figures are printed, never
asserted.

    .venv/bin/python -P bench/slow_clients.py [--connections 300] [--seconds 40]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

HOST = "127.0.0.1"
TRICKLE = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
NEWSLETTER = str(Path(sys.executable).with_name("newsletter"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def start_server(scratch: Path, port: int) -> subprocess.Popen[bytes]:
    """`newsletter serve` on an empty site in `scratch`, once it accepts connections."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEWSLETTER_")}
    env |= {"NEWSLETTER_DATA_DIR": str(scratch), "NEWSLETTER_SOURCES": "[]"}
    server = subprocess.Popen(
        [NEWSLETTER, "serve", "--port", str(port)],
        cwd=scratch,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            socket.create_connection((HOST, port)).close()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    sys.exit("the server did not start")


def trickle(port: int, connections: int, seconds: int) -> dict[int, int]:
    """Open `connections`, send one byte a second on each; the number closed by the
    server at each whole second."""
    sockets = [socket.create_connection((HOST, port)) for _ in range(connections)]
    for sock in sockets:
        sock.setblocking(False)
    closed: set[int] = set()
    timeline: dict[int, int] = {}
    for second in range(seconds):
        for index, sock in enumerate(sockets):
            if index not in closed and _gone(sock, TRICKLE[second : second + 1]):
                closed.add(index)
        timeline[second] = len(closed)
        time.sleep(1)
    for sock in sockets:
        sock.close()
    return timeline


def _gone(sock: socket.socket, byte: bytes) -> bool:
    try:
        sock.send(byte)
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--seconds", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        server = start_server(Path(folder), port)
        try:
            timeline = trickle(port, args.connections, args.seconds)
            healthy = requests.get(f"http://{HOST}:{port}/healthz", timeout=10).status_code
        finally:
            server.terminate()
            server.wait()
    for second in (5, 11, 15, args.seconds - 1):
        if second in timeline:
            share = timeline[second] / args.connections
            print(f"after {second + 1:>3} s: {timeline[second]:>4} closed ({share:.0%})")
    print(f"/healthz answered {healthy} beside them")


if __name__ == "__main__":
    main()

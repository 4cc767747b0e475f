"""SMTP wire benchmark: digest copies through the smtp backend into Postfix's smtp-sink,
unsigned and DKIM-signed, beside raw smtplib pushing one prebuilt copy.

"raw smtplib" sends the same bytes again and again with `smtplib.SMTP.sendmail` over
`--connections` threads. "ours" renders a copy per reader from one digest template
(`template.render`, each reader's own links) and sends them through `SMTPPool` over as
many connections; "ours + DKIM" also signs each copy (RSA-2048; with --ed25519 a second,
Ed25519 signature). Rendering runs in a thread of their own that keeps one batch ahead
of the pool, as a sender that overlaps its stages does; the signer signs in its own
threads meanwhile (OpenSSL lets go of the GIL while it signs, so spare cores help).
"cpu µs/msg" is the process's CPU time (all threads) per message: on a busy
machine the rates follow it. No database: this
measures the message path from template to wire. smtp-sink offers PIPELINING unless
--no-pipelining. Each phase runs in a fresh process; figures are printed, never
asserted; compare the ratios, not the seconds, across machines.

    .venv/bin/python -P bench/wire.py [--messages 10000] [--connections 4] [--ed25519]
                                      [--no-pipelining]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for bench.render
from bench.baseline import HOST, cpu_seconds, push_raw, smtp_sink
from bench.phases import run_in_child
from bench.render import SITE, dkim_settings, readers, selections

if TYPE_CHECKING:
    from pipeline.mail.template import OutgoingMessage

Sign = Callable[["OutgoingMessage"], "OutgoingMessage"]

POSTS = 5
BATCH = 100  # messages per pool call (what the pool takes per call with 4 connections)


def copies(folder: Path, count: int, dkim: str) -> tuple[Iterator[OutgoingMessage], Sign]:
    """`count` copies of one digest, each reader's own, and what signs one (as is when
    `dkim` is "none")."""
    from pipeline.digest import digest_recipient, digest_template, render_digest
    from pipeline.mail.dkim import dkim_signer
    from pipeline.settings import load_settings
    from subscribers import TokenSigner

    keys: dict[str, Any] = dkim_settings(folder) if dkim != "none" else {}
    if dkim == "rsa+ed25519":
        keys |= ed25519_settings(folder)
    settings = load_settings(
        site_url=SITE,
        site_title="Policy Blog",
        email_from="Policy Blog <news@blog.example.org>",
        **keys,
    )
    [posts] = selections(1)
    template = digest_template(settings, render_digest(settings, posts[:POSTS]))
    signer = TokenSigner(["a-benchmark-signing-key"])
    made = (
        template.render(
            digest_recipient(settings, signer, reader, str(number)), message_key=str(number)
        )
        for number, reader in enumerate(readers(count))
    )
    return made, dkim_signer(settings) or (lambda message: message)


def ed25519_settings(folder: Path) -> dict[str, object]:
    """A fresh Ed25519 key in `folder` (PKCS#8 PEM), as settings for the second signature."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = folder / "ed25519.key"
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {"dkim_ed25519_key_file": key, "dkim_ed25519_selector": "bench-ed"}


def ours_phase(port: int, count: int, connections: int, dkim: str) -> dict[str, Any]:
    """Copies made and signed in a producer thread, a batch ahead, and sent through
    `SMTPPool`."""
    from pipeline.delivery import SMTPBackend, SMTPPool, TokenBucket

    pool = SMTPPool(
        [SMTPBackend(host=HOST, port=port, security="none") for _ in range(connections)],
        TokenBucket(0),
    )
    batches: queue.Queue[list[OutgoingMessage] | None] = queue.Queue(maxsize=1)
    with tempfile.TemporaryDirectory() as scratch:
        made, sign = copies(Path(scratch), count, dkim)
        first = sign(next(made))
        first.wire()  # keys read and checked, template rendered and planned: not timed

        def produce() -> None:
            batches.put([first])
            while batch := list(itertools.islice(made, BATCH)):
                batches.put([sign(message) for message in batch])
            batches.put(None)

        started, cpu = time.perf_counter(), cpu_seconds()
        producer = threading.Thread(target=produce)
        producer.start()
        sent = failed = 0
        while (batch := batches.get()) is not None:
            for result in pool.send(batch):
                sent += result.ok
                failed += not result.ok
        producer.join()
        seconds = time.perf_counter() - started
    pool.close()
    if failed:
        raise SystemExit(f"ours ({dkim}): {failed} messages failed")
    return {"messages": sent, "seconds": seconds, "cpu_seconds": cpu_seconds() - cpu}


def raw_phase(port: int, count: int, connections: int) -> dict[str, Any]:
    """One prebuilt copy's bytes pushed `count` times with smtplib over `connections`."""
    with tempfile.TemporaryDirectory() as scratch:
        message = next(copies(Path(scratch), 1, "none")[0])
    return push_raw(port, message.sender, message.raw, count, connections)


DKIM = {"ours": "none", "ours+dkim": "rsa", "ours+dkim2": "rsa+ed25519"}


def phase(kind: str, port: int, count: int, connections: int) -> dict[str, Any]:
    if kind == "raw":
        return raw_phase(port, count, connections)
    return ours_phase(port, count, connections, DKIM[kind])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--ed25519", action="store_true", help="also sign with Ed25519")
    parser.add_argument("--no-pipelining", action="store_true", help="smtp-sink without it")
    parser.add_argument("--phase", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        kind, *numbers = args.phase
        print(json.dumps(phase(kind, *map(int, numbers))))
        return
    if not shutil.which("openssl"):
        raise SystemExit("openssl not found: the DKIM phase makes its key with it")
    kinds = ["raw", "ours", "ours+dkim"] + (["ours+dkim2"] if args.ed25519 else [])
    labels = {
        "raw": "raw smtplib",
        "ours": "ours",
        "ours+dkim": "ours + DKIM (RSA)",
        "ours+dkim2": "ours + DKIM (RSA, Ed25519)",
    }
    results: dict[str, dict[str, Any]] = {}
    with smtp_sink(not args.no_pipelining) as sink:
        for kind in kinds:
            results[kind] = run_in_child(
                __file__,
                "--phase",
                kind,
                sink["port"],
                args.messages,
                args.connections,
            )
    print(
        f"{args.messages:,} messages, {args.connections} connections, smtp-sink"
        f" {'without' if args.no_pipelining else 'with'} PIPELINING, {os.cpu_count()} CPUs,"
        f" {results['raw']['bytes'] / 1024:.1f} KiB per message"
    )
    print(f"{'phase':<28} {'seconds':>8} {'msg/s':>7} {'cpu':>5} {'cpu µs/msg':>10}")
    rates = {}
    for kind, figures in results.items():
        rates[kind] = figures["messages"] / figures["seconds"]
        print(
            f"{labels[kind]:<28} {figures['seconds']:>8.2f} {rates[kind]:>7.0f}"
            f" {figures['cpu_seconds'] / figures['seconds']:>5.0%}"
            f" {figures['cpu_seconds'] / figures['messages'] * 1e6:>10.0f}"
        )
    print(f"ours / raw smtplib: {rates['ours'] / rates['raw']:.2f}")
    for kind in kinds[2:]:
        print(f"{labels[kind]} / ours unsigned: {rates[kind] / rates['ours']:.2f} (aim: >= 0.8)")


if __name__ == "__main__":
    main()

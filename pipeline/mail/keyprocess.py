"""Private-key operations for DKIM in a process of their own.

An RSA-2048 signature takes a quarter of a millisecond of OpenSSL. Made by the threads
that send, each one hands the GIL away and back and holds up a connection meanwhile: the
sending process then spends more on the handovers than on the mail. A child process
holding the keys signs queued digests in order, on a core of its own, while the sender
goes on rendering and sending; a copy waits for its signature only if it is not back by
the time its bytes are needed.

The child is this file run by path (`python -P keyprocess.py`: its folder is not put on
the path, where `dkim.py` would hide dkimpy), so it imports only the standard library
and `cryptography`. What its pipes carry:
- in, once: the number of keys (4 bytes), then each key as PKCS#8 DER, its length first;
- in, per chunk: the number of requests (4 bytes), then each request's key number
  (1 byte) and SHA-256 digest (32 bytes);
- out, per chunk: its length (4 bytes), then each signature, its length (2 bytes) first.

If the child cannot start or stops, every chunk it still owes is settled with None and
the caller signs those copies itself; a warning says so.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Sequence, Set
from typing import BinaryIO

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa, utils

log = logging.getLogger(__name__)

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
DIGEST_BYTES = 32  # SHA-256, what both DKIM algorithms sign
# Where the send keeps to a CPU of its own (`pipeline.cpus`), the children run on the
# others. Elsewhere a child yields to every other process: the sender, held by its GIL,
# sets the pace, and stalls whenever a key process takes its core, while the child works
# a batch ahead and only needs the time the sender and the relay leave idle.
NICENESS = 19
_COUNT = struct.Struct(">I")
_LENGTH = struct.Struct(">H")
_PKCS1, _PREHASHED = padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())


def sign(key: PrivateKey, digest: bytes) -> bytes:
    """`key`'s signature of a SHA-256 `digest`: RSASSA-PKCS1-v1_5 (rsa-sha256), or
    Ed25519 over the digest itself (ed25519-sha256, RFC 8463)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(digest, _PKCS1, _PREHASHED)
    return key.sign(digest)


class Chunk:
    """The signatures of one chunk of requests, once the child has sent them back."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._signatures: list[bytes] | None = None

    def get(self, index: int) -> bytes | None:
        """The `index`-th request's signature, waiting for it; None if the child could
        not make it."""
        self._ready.wait()
        signatures = self._signatures or ()
        return signatures[index] if index < len(signatures) else None

    def settle(self, signatures: list[bytes] | None) -> None:
        self._signatures = signatures
        self._ready.set()


class KeyProcess:
    """A child process that signs with `keys` (numbered in order), and the thread that
    reads its answers."""

    def __init__(
        self, keys: Sequence[PrivateKey], cpus: Set[int] | None = None, lowest: bool = False
    ) -> None:
        self._owed: deque[Chunk] = deque()  # sent, not answered yet; oldest first
        self._lock = threading.Lock()  # for `_owed`
        self._sending = threading.Lock()  # chunks go out in the order they are owed
        self._broken = self._closing = False
        ders = [
            key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            for key in keys
        ]
        try:
            self._child: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-P", __file__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError as exc:
            log.warning("DKIM key process could not start (%s): signing in the sender", exc)
            self._child, self._broken = None, True
            return
        self.place(cpus, lowest)
        self._write(_COUNT.pack(len(ders)) + b"".join(_COUNT.pack(len(der)) + der for der in ders))
        self._reader = threading.Thread(target=self._read, name="dkim-keys", daemon=True)
        self._reader.start()

    def place(self, cpus: Set[int] | None, lowest: bool = False) -> None:
        """Run on `cpus`, those a send kept to one CPU leaves it (`pipeline.cpus`), at the
        lowest priority if `lowest`; with None, on the CPUs the caller may use, at the
        lowest priority. (A child is never given a higher priority back: that takes
        privileges.)"""
        if self._child is None or self._broken:  # its process id may be another's by now
            return
        pid = self._child.pid
        with contextlib.suppress(OSError):  # gone already: the reader settles what it owed
            if cpus is None and hasattr(os, "sched_setaffinity"):  # Linux
                os.sched_setaffinity(pid, os.sched_getaffinity(0))
            elif cpus is not None:
                os.sched_setaffinity(pid, cpus)
            if cpus is None or lowest:
                os.setpriority(os.PRIO_PROCESS, pid, NICENESS)

    @property
    def broken(self) -> bool:
        """Whether the child could not start or has stopped (its copies are signed by the
        caller)."""
        return self._broken

    @property
    def pid(self) -> int | None:
        """The child's process id (None if it could not start)."""
        return None if self._child is None else self._child.pid

    def sign(self, requests: Sequence[tuple[int, bytes]]) -> Chunk:
        """Queue `requests` (key number, digest); their signatures come back in the chunk."""
        chunk = Chunk()
        data = _COUNT.pack(len(requests)) + b"".join(
            bytes((number,)) + digest for number, digest in requests
        )
        with self._sending:
            with self._lock:
                owing = not self._broken and self._open()
                if owing:
                    self._owed.append(chunk)
            if owing:
                self._write(data)
            else:
                chunk.settle(None)
        return chunk

    def close(self) -> None:
        """Let the child finish what it owes and stop (safe to call more than once)."""
        with self._sending:
            if not self._open():
                return
            self._closing = True
            assert self._child is not None and self._child.stdin is not None
            with contextlib.suppress(OSError):
                self._child.stdin.close()
        self._reader.join()
        self._child.wait()

    def _open(self) -> bool:
        return self._child is not None and not (
            self._child.stdin is None or self._child.stdin.closed
        )

    def _write(self, data: bytes) -> None:
        assert self._child is not None and self._child.stdin is not None
        try:
            self._child.stdin.write(data)
            self._child.stdin.flush()
        except (OSError, ValueError):  # the child is gone: the reader settles what it owed
            self._child.kill()

    def _read(self) -> None:
        assert self._child is not None and self._child.stdout is not None
        answers = self._child.stdout
        try:
            while len(header := answers.read(_COUNT.size)) == _COUNT.size:
                (size,) = _COUNT.unpack(header)
                answer = answers.read(size)
                if len(answer) != size:
                    break
                with self._lock:
                    chunk = self._owed.popleft()
                chunk.settle(_signatures(answer))
        finally:
            with self._lock:
                self._broken = True
                owed, self._owed = list(self._owed), deque()
            if not self._closing:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._child.wait(timeout=1)  # its pipe closes just before it ends
                log.warning(
                    "DKIM key process %d stopped (exit status %s): signing in the sender",
                    self._child.pid,
                    self._child.returncode,
                )
            for chunk in owed:
                chunk.settle(None)


def _signatures(answer: bytes) -> list[bytes]:
    signatures, offset = [], 0
    while offset < len(answer):
        (length,) = _LENGTH.unpack_from(answer, offset)
        offset += _LENGTH.size
        signatures.append(answer[offset : offset + length])
        offset += length
    return signatures


def _serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """The child: read the keys, then answer chunks until the parent closes the pipe
    (an interrupt from the terminal is the parent's to handle)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    (count,) = _COUNT.unpack(requests.read(_COUNT.size))
    keys = []
    for _ in range(count):
        (length,) = _COUNT.unpack(requests.read(_COUNT.size))
        key = serialization.load_der_private_key(requests.read(length), password=None)
        assert isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey)
        keys.append(key)
    request = 1 + DIGEST_BYTES
    while len(header := requests.read(_COUNT.size)) == _COUNT.size:
        (count,) = _COUNT.unpack(header)
        data = requests.read(count * request)
        signed = [
            sign(keys[data[start]], data[start + 1 : start + request])
            for start in range(0, len(data), request)
        ]
        answer = b"".join(_LENGTH.pack(len(signature)) + signature for signature in signed)
        answers.write(_COUNT.pack(len(answer)) + answer)
        answers.flush()


if __name__ == "__main__":
    _serve(sys.stdin.buffer, sys.stdout.buffer)

"""The `smtp` backend: a batch spread over SMTP_CONNECTIONS persistent connections.

One connection sends a message per round trip; a relay accepts several connections at
once, so a digest to thousands goes several times faster over a few. Each worker thread
takes one connection from the pool for the batch and messages from a shared queue, so a
slow message holds up only its own connection. Results come back in the order of the input.

A worker that cannot connect (the server refuses more connections, or is down) puts its
message back and stops; the others carry on. Only when no worker can connect does the rest
of the batch fail at once, as transient.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from pipeline.delivery.base import SendResult, failed
from pipeline.delivery.ratelimit import TokenBucket
from pipeline.delivery.smtp import SMTPBackend, Unreachable
from pipeline.mail.compose import OutgoingMessage

MESSAGES_PER_CONNECTION_PER_CALL = 25


class SMTPPool:
    """Sends through `connections` (unconnected `SMTPBackend`s are fine: each connects on
    first use), one worker thread per connection, paced by `limiter`."""

    def __init__(self, connections: Sequence[SMTPBackend], limiter: TokenBucket) -> None:
        self.connections = tuple(connections)
        self.limiter = limiter
        self._idle: queue.LifoQueue[SMTPBackend] = queue.LifoQueue()
        for connection in self.connections:
            self._idle.put(connection)

    @property
    def max_batch(self) -> int:
        """How many messages one `send` should get: enough to keep every connection busy
        for a while (each call starts the workers afresh), few enough to record often."""
        return MESSAGES_PER_CONNECTION_PER_CALL * len(self.connections)

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        if not messages:
            return []
        workers = min(len(self.connections), len(messages))
        batch = _Batch(messages, workers)
        with ThreadPoolExecutor(workers, thread_name_prefix="smtp") as executor:
            for future in [executor.submit(self._work, batch) for _ in range(workers)]:
                future.result()  # a bug in a worker surfaces here, not as a missing result
        return batch.collected()

    def close(self) -> None:
        """QUIT on every open connection (call it when no `send` is running)."""
        for connection in self.connections:
            connection.close()

    def _work(self, batch: _Batch) -> None:
        # The warmest connection first (LIFO); waits if another batch holds them all.
        connection = self._idle.get()
        try:
            while (index := batch.take()) is not None:
                self.limiter.acquire()
                try:
                    batch.results[index] = connection.deliver(batch.messages[index])
                except Unreachable as exc:
                    batch.give_up(index, str(exc))
                    return
        finally:
            self._idle.put(connection)


class _Batch:
    """One `send` call's messages, the queue of those not yet taken, and their results."""

    def __init__(self, messages: Sequence[OutgoingMessage], workers: int) -> None:
        self.messages = messages
        self.results: list[list[SendResult] | None] = [None] * len(messages)
        self._pending = deque(range(len(messages)))
        self._workers = workers
        self._lock = threading.Lock()

    def take(self) -> int | None:
        with self._lock:
            return self._pending.popleft() if self._pending else None

    def give_up(self, index: int, reason: str) -> None:
        """A worker cannot connect: its message goes back for the others, unless it was the
        last worker, when every message still waiting fails with `reason`."""
        with self._lock:
            self._pending.appendleft(index)
            self._workers -= 1
            if self._workers:
                return
            while self._pending:
                waiting = self._pending.popleft()
                self.results[waiting] = failed(self.messages[waiting], reason, permanent=False)

    def collected(self) -> list[SendResult]:
        return [result for results in self.results for result in results or ()]

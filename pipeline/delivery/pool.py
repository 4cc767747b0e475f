"""The `smtp` backend: messages spread over SMTP_CONNECTIONS persistent connections.

One connection sends a message per round trip; a relay accepts several connections at
once, so a digest to thousands goes several times faster over a few. Each connection has
its own long-lived worker thread, which takes messages from the batch being sent, so a
slow message holds up only its own connection. Results come back in the order of the input.

With a `done` callback each message's results are handed over as soon as they are known,
and a connection ends its next message only once the one before the previous is
recorded: a crash leaves at most two messages per connection sent but unrecorded.

A worker that cannot connect (the server refuses more connections, or is down) puts its
message back and leaves the batch; the others carry on. What no connection could take
when the last worker leaves fails at once, as a transient fault of the channel.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Sequence

from pipeline.cpus import follow, where
from pipeline.delivery.base import Closing, Done, Pipeline, SendResult, failed
from pipeline.delivery.ratelimit import TokenBucket
from pipeline.delivery.smtp import SMTPBackend, Unreachable
from pipeline.mail.compose import OutgoingMessage

MESSAGES_PER_CONNECTION_PER_CALL = 125


class SMTPPool(Closing):
    """Sends through `connections` (unconnected `SMTPBackend`s are fine: each connects on
    first use), one worker thread per connection, paced by `limiter`."""

    sends_bytes = True

    def __init__(self, connections: Sequence[SMTPBackend], limiter: TokenBucket) -> None:
        self.connections = tuple(connections)
        self.limiter = limiter
        self._inboxes: list[queue.SimpleQueue[_Batch | None]] = [
            queue.SimpleQueue() for _ in self.connections
        ]
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def max_batch(self) -> int:
        """How many messages one `send` should get: enough to keep every connection busy
        while the next batch is prepared."""
        return MESSAGES_PER_CONNECTION_PER_CALL * len(self.connections)

    def send(
        self, messages: Sequence[OutgoingMessage], done: Done | None = None
    ) -> list[SendResult]:
        if not messages:
            return []
        self._start()
        batch = _Batch(messages, len(self.connections), done)
        for inbox in self._inboxes:
            inbox.put(batch)
        return batch.collected()

    def close(self) -> None:
        """Stop the workers and QUIT on every open connection (when no `send` is running)."""
        with self._lock:
            threads, self._threads = self._threads, []
        for inbox in self._inboxes[: len(threads)]:
            inbox.put(None)
        for thread in threads:
            thread.join()
        for connection in self.connections:
            connection.close()

    def _start(self) -> None:
        with self._lock:
            if self._threads:
                return
            for number, (connection, inbox) in enumerate(
                zip(self.connections, self._inboxes, strict=True)
            ):
                thread = threading.Thread(
                    target=self._serve,
                    args=(connection, inbox),
                    name=f"smtp-{number}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)

    def _serve(self, connection: SMTPBackend, inbox: queue.SimpleQueue[_Batch | None]) -> None:
        while (batch := inbox.get()) is not None:
            follow(batch.cpus)  # a send kept to one CPU keeps its connections there too
            try:
                self._work(connection, batch)
            except BaseException as exc:  # surfaces in `send`, not as a missing result
                batch.crash(exc)
            finally:
                batch.leave()

    def _work(self, connection: SMTPBackend, batch: _Batch) -> None:
        """Deliver messages of `batch` until none is left, each with the next one this
        connection takes (already taken, so its envelope can go with this one's end).
        Under SEND_RATE nothing is taken ahead: a server waiting for the content of a
        message announced early would wait for the pace too."""
        line = Pipeline(batch.done)
        index = batch.take()
        try:
            while index is not None:
                self.limiter.acquire()
                message = batch.messages[index]
                upcoming = None if self.limiter.paced else batch.take()
                try:
                    results = connection.deliver(
                        message, line.ready, None if upcoming is None else batch.messages[upcoming]
                    )
                except Unreachable as exc:
                    for unsent in (upcoming, index):
                        if unsent is not None:
                            batch.give_up(unsent, str(exc))
                    return
                batch.results[index] = results
                line.finished(message, results)
                index = batch.take() if upcoming is None else upcoming
        finally:
            line.drain()


class _Batch:
    """One `send` call's messages, the queue of those not yet taken, and their results."""

    def __init__(self, messages: Sequence[OutgoingMessage], workers: int, done: Done | None):
        self.messages, self.done = messages, done
        self.cpus = where()  # those of the send handing it over
        self.results: list[list[SendResult] | None] = [None] * len(messages)
        self._pending = deque(range(len(messages)))
        self._present = workers
        self._unreachable: str | None = None
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._error: BaseException | None = None

    def take(self) -> int | None:
        with self._lock:
            return self._pending.popleft() if self._pending else None

    def give_up(self, index: int, reason: str) -> None:
        """A worker cannot connect: its message goes back for the others."""
        with self._lock:
            self._pending.appendleft(index)
            self._unreachable = reason

    def crash(self, error: BaseException) -> None:
        with self._lock:
            self._error = self._error or error
            self._pending.clear()

    def leave(self) -> None:
        """A worker is done with this batch. The last one to leave fails what no connection
        could take (every one that tried could not connect), as a fault of the channel."""
        with self._lock:
            self._present -= 1
            if self._present:
                return
            unsent, reason = list(self._pending), self._unreachable
            self._pending.clear()
        line = Pipeline(self.done)
        for waiting in unsent:
            message = self.messages[waiting]
            self.results[waiting] = failed(
                message, reason or "no connection took it", permanent=False, channel=True
            )
            line.finished(message, self.results[waiting] or [])
        line.drain()
        self._finished.set()

    def collected(self) -> list[SendResult]:
        """Every result, once all workers are done with this batch."""
        self._finished.wait()
        if self._error is not None:
            raise self._error
        return [result for results in self.results for result in results or ()]

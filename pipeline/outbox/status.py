"""The states of a digest run and of one outbox row, and the moves allowed between them.

A run: queued → sending → done | failed | expired | cancelled, and sending ⇄ paused
(an admin's pause, or a fault of the whole channel that the sweep probes again later).
A row: queued → sending (claimed by a live sender) → sent | failed | skipped; a transient
failure or a claim taken back from a stopped sender goes back to queued.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED

    def can_become(self, target: RunStatus) -> bool:
        return target in RUN_MOVES[self]


class OutboxStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"

    def can_become(self, target: OutboxStatus) -> bool:
        return target in ROW_MOVES[self]


FINISHED = frozenset({RunStatus.DONE, RunStatus.FAILED, RunStatus.EXPIRED, RunStatus.CANCELLED})
UNFINISHED = frozenset({RunStatus.QUEUED, RunStatus.SENDING})
_ENDS = {RunStatus.EXPIRED, RunStatus.CANCELLED}
RUN_MOVES: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.SENDING, RunStatus.PAUSED, RunStatus.DONE, *_ENDS}),
    RunStatus.SENDING: frozenset({RunStatus.PAUSED, RunStatus.DONE, RunStatus.FAILED, *_ENDS}),
    RunStatus.PAUSED: frozenset({RunStatus.SENDING, *_ENDS}),
    RunStatus.DONE: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.EXPIRED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}
ROW_MOVES: dict[OutboxStatus, frozenset[OutboxStatus]] = {
    OutboxStatus.QUEUED: frozenset(
        {OutboxStatus.SENDING, OutboxStatus.SKIPPED, OutboxStatus.FAILED}
    ),
    OutboxStatus.SENDING: frozenset(
        {OutboxStatus.QUEUED, OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.SKIPPED}
    ),
    OutboxStatus.SENT: frozenset(),
    OutboxStatus.FAILED: frozenset(),
    OutboxStatus.SKIPPED: frozenset(),
}
ENDED_ROWS = frozenset({OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.SKIPPED})

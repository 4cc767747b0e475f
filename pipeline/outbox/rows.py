"""The outbox's rows and runs in the database: the only module that reads or writes them.

Claims name the live sender that holds them (`senders`), and every mark is conditional
on still holding the claim, so a row taken back from a sender that went quiet can never
be counted twice. On PostgreSQL a claim skips rows another sender is locking (`FOR UPDATE
SKIP LOCKED`), so parallel drainers never wait on each other; SQLite serialises writers
and its busy timeout absorbs the waits.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, NamedTuple

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Dialect,
    Integer,
    any_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, aliased

from pipeline.outbox.status import ENDED_ROWS, FINISHED, OutboxStatus, RunStatus
from pipeline.sanitize import clean_text
from pipeline.storage import arrays
from pipeline.storage.db import HeldConnection, changed
from pipeline.storage.models import DigestRun, OutboxItem, Sender
from pipeline.storage.prepared import Prepared, prepared
from subscribers import Subscriber

RETENTION = timedelta(days=90)
_INSERT_CHUNK = 5_000
_ROWS = OutboxItem.__table__


@dataclass(frozen=True)
class Claimed:
    """A claimed row with what rendering its copy needs (a Core row, not an ORM object)."""

    id: int
    selection_id: int
    attempts: int
    subscriber: Person | None  # None once the subscriber is erased


class Queued(NamedTuple):
    """A row to queue: who gets which selection, and when (None: at once)."""

    selection_id: int
    subscriber_id: int
    due: datetime | None


@dataclass(frozen=True)
class Mark:
    """What became of one claimed row."""

    id: int
    status: OutboxStatus
    attempts: int
    last_error: str | None = None
    sent_at: datetime | None = None
    next_attempt_at: datetime | None = None
    message_id: str | None = None
    provider_id: str | None = None

    def __post_init__(self) -> None:
        """An error as every database stores and gives back the same: whatever raised it
        (a provider's JSON, an exception), no NUL (PostgreSQL refuses it, SQLite's JSON
        ends the text there) and no lone surrogate (not UTF-8, so unreadable once stored)."""
        if self.last_error is not None:
            readable = clean_text(self.last_error).encode("utf-8", "replace").decode("utf-8")
            object.__setattr__(self, "last_error", readable)


@dataclass(frozen=True)
class Backlog:
    """What is left of a run: rows waiting (and when the first is due) and rows in flight."""

    queued: int
    next_due: datetime | None
    in_flight: int

    @property
    def empty(self) -> bool:
        return not self.queued and not self.in_flight


def queue(session: Session, run_id: int, items: Iterable[Queued]) -> int:
    """One queued row per item, inserted in chunks so memory stays flat; how many."""
    count = 0
    postgresql = session.get_bind().dialect.name == "postgresql"
    for chunk in _chunks(items, _INSERT_CHUNK):
        if postgresql:
            session.execute(_QUEUE_AT_ONCE, _queued_columns(run_id, chunk))
        else:
            connection = session.connection()
            prepared(_QUEUE, connection.dialect).execute(
                connection,
                [
                    {
                        "run_id": run_id,
                        "selection_id": item.selection_id,
                        "subscriber_id": item.subscriber_id,
                        "next_attempt_at": item.due,
                    }
                    for item in chunk
                ],
            )
        count += len(chunk)
    return count


_QUEUE = insert(_ROWS).values(
    run_id=bindparam("run_id"),
    selection_id=bindparam("selection_id"),
    subscriber_id=bindparam("subscriber_id"),
    status=OutboxStatus.QUEUED,
    attempts=0,
    next_attempt_at=bindparam("next_attempt_at"),
)

# PostgreSQL's chunk of new rows: one statement with one array per column, which the
# server unpacks, where a row per parameter set cost a round trip's share and a parse each
# (half of planning a run).
_QUEUE_AT_ONCE = text(
    """
    INSERT INTO outbox (run_id, selection_id, subscriber_id, status, attempts, next_attempt_at)
    SELECT :run_id, v.selection_id, v.subscriber_id, :queued, 0, v.due
    FROM unnest(CAST(:selections AS integer[]), CAST(:subscribers AS integer[]),
        CAST(:due AS timestamptz[])) AS v(selection_id, subscriber_id, due)
    """
)


def _queued_columns(run_id: int, chunk: Sequence[Queued]) -> dict[str, object]:
    return {
        "run_id": run_id,
        "queued": str(OutboxStatus.QUEUED),
        "selections": arrays.integers(item.selection_id for item in chunk),
        "subscribers": arrays.integers(item.subscriber_id for item in chunk),
        "due": arrays.texts(item.due for item in chunk),
    }


def _chunks(items: Iterable[Queued], size: int) -> Iterator[list[Queued]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def claim(session: Session, run_id: int, sender: str, now: datetime, limit: int) -> list[Claimed]:
    """Up to `limit` due rows of `run_id`, now claimed by `sender`, in id order."""
    if session.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info >= SQLITE_JSON:
        return _claim_in_json(session, run_id, sender, now, limit)
    due = (
        select(OutboxItem.id)
        .where(
            OutboxItem.run_id == run_id,
            OutboxItem.status == OutboxStatus.QUEUED,
            (OutboxItem.next_attempt_at.is_(None)) | (OutboxItem.next_attempt_at <= now),
        )
        .order_by(OutboxItem.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
        .prefix_with("MATERIALIZED")  # run once: re-run per row, SKIP LOCKED finds new rows
    )
    ids = session.scalars(
        update(OutboxItem)
        .where(OutboxItem.id.in_(select(due.c.id)), OutboxItem.status == OutboxStatus.QUEUED)
        .values(status=OutboxStatus.SENDING, claim=sender, claimed_at=now)
        .returning(OutboxItem.id)
        .execution_options(synchronize_session=False)
    ).all()
    if not ids:
        return []
    rows = session.execute(
        select(
            OutboxItem.id,
            OutboxItem.selection_id,
            OutboxItem.attempts,
            Subscriber.id.label("subscriber_id"),
            Subscriber.email,
            Subscriber.name,
            Subscriber.status,
            Subscriber.token_nonce,
        )
        .outerjoin(Subscriber, Subscriber.id == OutboxItem.subscriber_id)
        .where(_among(session, ids))
        .order_by(OutboxItem.id)
    ).all()
    return [
        Claimed(row.id, row.selection_id, row.attempts, Person(*row[3:]) if row.email else None)
        for row in rows
    ]


def _among(session: Session, ids: Sequence[int]) -> ColumnElement[bool]:
    """Rows whose id is one of `ids`: on PostgreSQL one array (a bind per id cost the
    claim more CPU than reading its rows), elsewhere an IN list."""
    if session.get_bind().dialect.name == "postgresql":
        return OutboxItem.id == any_(bindparam("ids", list(ids), type_=ARRAY(Integer)))
    return OutboxItem.id.in_(ids)


# SQLite's claim. The driver lets go of the GIL for each step of a statement, and each row
# a statement returns is a step: beside one busy thread, a claim of 500 rows returning
# them one by one took 911 ms (8.8 ms alone). So each of its three statements returns one
# row: the due rows' ids as a JSON array, and how many; the update of those still queued
# and due; the rows now claimed, with their subscribers, as one JSON array. The first read
# is outside a transaction (the driver begins one at the update), so another sender may
# take some of those rows first: then the claim reads again, inside the transaction.
CLAIM_READS = 3  # the first outside the transaction, the next inside it: 2 suffice
_DUE = text(
    """
    SELECT json_group_array(id), count(*) FROM (SELECT id FROM outbox
        WHERE run_id = :run AND status = :queued
            AND (next_attempt_at IS NULL OR next_attempt_at <= :now)
        ORDER BY id LIMIT :limit)
    """
).bindparams(bindparam("now", type_=_ROWS.c.next_attempt_at.type))
_TAKE = text(
    """
    UPDATE outbox SET status = :sending, claim = :sender, claimed_at = :now
    WHERE id IN (SELECT value FROM json_each(:ids)) AND run_id = :run AND status = :queued
        AND (next_attempt_at IS NULL OR next_attempt_at <= :now)
    """
).bindparams(bindparam("now", type_=_ROWS.c.claimed_at.type))
_TAKEN = text(
    """
    SELECT json_group_array(json_array(o.id, o.selection_id, o.attempts, s.id, s.email,
            s.name, s.status, s.token_nonce))
    FROM outbox AS o LEFT OUTER JOIN subscribers AS s ON s.id = o.subscriber_id
    WHERE o.id IN (SELECT value FROM json_each(:ids)) AND o.claim = :sender
        AND o.status = :sending
    """
)


def _claim_in_json(
    session: Session, run_id: int, sender: str, now: datetime, limit: int
) -> list[Claimed]:
    values = {
        "run": run_id,
        "sender": sender,
        "now": now,
        "queued": str(OutboxStatus.QUEUED),
        "sending": str(OutboxStatus.SENDING),
    }
    taken: list[list[Any]] = []
    for _ in range(CLAIM_READS):
        due, wanted = session.execute(_DUE, {**values, "limit": limit - len(taken)}).one()
        if not wanted:
            break
        got = changed(session, _TAKE, {**values, "ids": due})
        if got:
            taken += json.loads(session.scalar(_TAKEN, {**values, "ids": due}))
        if got == wanted or len(taken) == limit:
            break
    return [
        Claimed(row[0], row[1], row[2], Person(*row[3:]) if row[4] else None)
        for row in sorted(taken)
    ]


class Person(NamedTuple):
    """A subscriber as a claimed row carries it: what a copy and its tokens need."""

    id: int
    email: str
    name: str | None
    status: str
    token_nonce: str


_MARK = (
    update(_ROWS)
    .where(
        _ROWS.c.id == bindparam("row"),
        _ROWS.c.claim == bindparam("holder"),
        _ROWS.c.status == OutboxStatus.SENDING,
    )
    .values(
        status=bindparam("status"),
        claim=None,
        attempts=bindparam("attempts"),
        last_error=bindparam("last_error"),
        sent_at=bindparam("sent_at"),
        next_attempt_at=bindparam("next_attempt_at"),
        message_id=bindparam("message_id"),
        provider_id=bindparam("provider_id"),
    )
)


# PostgreSQL's marks: one statement for all, which is atomic by itself and so needs no
# transaction around it (one round trip, where BEGIN, the writes and COMMIT took three);
# it writes the rows still held and names them. Each row must be found by its primary
# key, one probe per mark, whatever the planner believes of the claim column: its
# statistics date from before the claims, so an indexable `claim = :holder` looked rare
# and drew a scan of every claimed row, nested with the marks (95 ms for 500 marks under
# psycopg's prepared plans, 11 ms now; 1.0 ms for 4 marks, 0.5 ms now). `IS NOT DISTINCT
# FROM` cannot use that index.
_MARK_AT_ONCE = text(
    """
    UPDATE outbox AS o SET status = v.status, claim = NULL, attempts = v.attempts,
        last_error = v.last_error, sent_at = v.sent_at, next_attempt_at = v.next_attempt_at,
        message_id = v.message_id, provider_id = v.provider_id
    FROM unnest(CAST(:ids AS integer[]), CAST(:statuses AS varchar[]),
        CAST(:attempts AS integer[]), CAST(:errors AS text[]), CAST(:sent AS timestamptz[]),
        CAST(:next AS timestamptz[]), CAST(:message_ids AS varchar[]),
        CAST(:provider_ids AS varchar[]))
        AS v(id, status, attempts, last_error, sent_at, next_attempt_at, message_id,
            provider_id)
    WHERE o.id = v.id AND o.claim IS NOT DISTINCT FROM :holder AND o.status = :sending
    RETURNING o.id
    """
)


# SQLite's marks when it has UPDATE ... FROM (3.35): as PostgreSQL's, one statement for
# all that writes the rows still held, the marks one JSON array. The driver lets go of the
# GIL for each step of a statement; run once per mark, each step had to win the GIL back
# from the thread rendering the next batch, and 500 marks took 28 ms for 10 ms of work. So
# it returns nothing either (each row returned is a step): it says how many rows it wrote,
# and only when some were not written are the marks' rows read back (a row another sender
# took back and then marked with the very same values, at the same instant, would count as
# written by both; only the reports' tallies would show it). Each row is found by
# its primary key: the unary `+` keeps the planner off the claim and status indexes, which
# drew a scan of the claimed rows with the marks nested in it (790 us a mark).
_MARK_FROM_JSON = text(
    """
    UPDATE outbox SET status = v.status, claim = NULL, attempts = v.attempts,
        last_error = v.last_error, sent_at = v.sent_at, next_attempt_at = v.next_attempt_at,
        message_id = v.message_id, provider_id = v.provider_id
    FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS status,
            json_extract(value, '$[2]') AS attempts, json_extract(value, '$[3]') AS last_error,
            json_extract(value, '$[4]') AS sent_at,
            json_extract(value, '$[5]') AS next_attempt_at,
            json_extract(value, '$[6]') AS message_id,
            json_extract(value, '$[7]') AS provider_id
        FROM json_each(:marks)) AS v
    WHERE outbox.id = v.id AND +outbox.claim = :holder AND +outbox.status = :sending
    """
)
# SQLite with UPDATE ... FROM and its JSON functions built in (not a compile-time option):
# claims and marks in a few statements; before, a statement per mark.
SQLITE_JSON = (3, 38)


def record(held: HeldConnection, sender: str, marks: Sequence[Mark]) -> list[int]:
    """Record `marks` for the rows `sender` still holds (see `mark`); the ids of those
    refused. Where the marks are one statement, it runs on the driver's connection alone:
    the writer's transaction and execution bookkeeping cost more CPU than the statement,
    and that CPU is spent under the GIL the connections sending mail need.

    A row that already holds exactly its mark is not refused: when the answer to a
    statement that committed is lost with the connection, the statement runs again and
    finds its own marks written."""
    dialect = held.engine.dialect
    if at_once(dialect):
        statement, values = marks_at_once(dialect, sender, marks)
        if dialect.name == "postgresql":
            kept = held.alone(lambda driver: statement.scalars_alone(driver, values))
            refused = _refused(marks, kept)
        else:
            written = held.alone(lambda driver: statement.changed_alone(driver, values))
            refused = [] if written == len(marks) else [item.id for item in marks]
    else:
        refused = held.transact(lambda connection: mark(connection, sender, marks))
    if not refused:
        return refused
    doubtful = set(refused)  # rare: taken back, or the answer was lost
    shown = [item for item in marks if item.id in doubtful]
    return held.transact(lambda connection: _not_holding(connection, shown))


# The usual look at a run between two batches: still sending, in its window, with no
# fault to recover from, so nothing to move or to note. One statement on a held
# connection: through a session it was a ping, BEGIN, SELECT and COMMIT, four round trips
# (5-8 ms a batch on PostgreSQL) for the thread that sends, each to win the GIL back from
# the thread preparing the next batch.
_PLAINLY_SENDING = select(DigestRun.note).where(
    DigestRun.id == bindparam("run_id"),
    DigestRun.status == RunStatus.SENDING.value,
    DigestRun.faults == 0,
    DigestRun.expires_at >= bindparam("now"),
)


def plainly_sending(held: HeldConnection, run_id: int, now: datetime) -> tuple[bool, str | None]:
    """Whether run `run_id` is sending with nothing to do to it at `now` (see
    `_PLAINLY_SENDING`), and then its note."""
    statement = prepared(_PLAINLY_SENDING, held.engine.dialect)
    values = {"run_id": run_id, "now": now}
    notes = held.alone(lambda driver: statement.scalars_alone(driver, values))
    return (True, notes[0]) if notes else (False, None)


# What a mark writes besides giving up the claim: Mark's fields and the columns alike.
_WRITTEN = (
    "status",
    "attempts",
    "last_error",
    "sent_at",
    "next_attempt_at",
    "message_id",
    "provider_id",
)


def _not_holding(connection: Connection, marks: Sequence[Mark]) -> list[int]:
    """The ids of `marks` whose rows do not hold what the mark says (and no claim)."""
    columns = [_ROWS.c[name] for name in _WRITTEN]
    rows = connection.execute(
        select(_ROWS.c.id, *columns)
        .where(_ROWS.c.id.in_([item.id for item in marks]))
        .where(_ROWS.c.claim.is_(None))
    )
    stored = {row[0]: tuple(row[1:]) for row in rows}
    return [
        item.id
        for item in marks
        if stored.get(item.id) != tuple(getattr(item, name) for name in _WRITTEN)
    ]


def mark(connection: Connection, sender: str, marks: Sequence[Mark]) -> list[int]:
    """Record `marks` for the rows `sender` still holds; the ids of those it no longer
    holds (taken back after its heartbeat stopped), whose marks are refused. One
    statement where the database allows (`at_once`), which needs no transaction around
    it; elsewhere call it inside one."""
    if not marks:
        return []
    if at_once(connection.dialect):
        statement, values = marks_at_once(connection.dialect, sender, marks)
        if connection.dialect.name == "postgresql":
            return _refused(marks, statement.scalars(connection, values))
        if statement.changed(connection, values) == len(marks):
            return []
        return _not_holding(connection, marks)  # the rows written hold their marks now
    kept = set(
        connection.scalars(
            select(OutboxItem.id).where(
                OutboxItem.id.in_([item.id for item in marks]),
                OutboxItem.claim == sender,
                OutboxItem.status == OutboxStatus.SENDING,
            )
        )
    )
    _write_each(connection, sender, [item for item in marks if item.id in kept])
    return _refused(marks, kept)


def at_once(dialect: Dialect) -> bool:
    """Whether marks are one statement that writes the rows still held."""
    if dialect.name == "sqlite":
        return sqlite3.sqlite_version_info >= SQLITE_JSON
    return dialect.name == "postgresql"


def marks_at_once(
    dialect: Dialect, sender: str, marks: Sequence[Mark]
) -> tuple[Prepared, dict[str, object]]:
    """The one statement for `marks` (see `at_once`), with its values. On PostgreSQL it
    returns the ids of the rows it wrote; on SQLite nothing (see `_MARK_FROM_JSON`)."""
    if dialect.name == "sqlite":
        return prepared(_MARK_FROM_JSON, dialect), _json_values(dialect, sender, marks)
    return prepared(_MARK_AT_ONCE, dialect), {
        "holder": sender,
        "sending": str(OutboxStatus.SENDING),
        "ids": arrays.integers(item.id for item in marks),
        "statuses": arrays.texts(item.status for item in marks),
        "attempts": arrays.integers(item.attempts for item in marks),
        "errors": arrays.texts(item.last_error for item in marks),
        "sent": arrays.texts(item.sent_at for item in marks),
        "next": arrays.texts(item.next_attempt_at for item in marks),
        "message_ids": arrays.texts(item.message_id for item in marks),
        "provider_ids": arrays.texts(item.provider_id for item in marks),
    }


def _json_values(dialect: Dialect, sender: str, marks: Sequence[Mark]) -> dict[str, object]:
    """`_MARK_FROM_JSON`'s values: times as SQLAlchemy stores them, so they compare as
    text with those written elsewhere."""
    convert = _ROWS.c.sent_at.type.dialect_impl(dialect).bind_processor(dialect)
    assert convert is not None
    stamps: dict[datetime | None, object] = {None: None}  # a commit's marks share a few

    def stamp(when: datetime | None) -> object:
        if when not in stamps:
            stamps[when] = convert(when)
        return stamps[when]

    values = [
        [
            item.id,
            str(item.status),
            item.attempts,
            item.last_error,
            stamp(item.sent_at),
            stamp(item.next_attempt_at),
            item.message_id,
            item.provider_id,
        ]
        for item in marks
    ]
    return {"marks": json.dumps(values), "holder": sender, "sending": str(OutboxStatus.SENDING)}


def _refused(marks: Sequence[Mark], kept: Iterable[int]) -> list[int]:
    """The ids of `marks` whose rows are not among those `kept`."""
    held = set(kept)
    return [item.id for item in marks if item.id not in held]


def _write_each(connection: Connection, sender: str, marks: Sequence[Mark]) -> int:
    """Apply `marks` where `sender` holds the claim, one statement per mark (each finding
    its row by its primary key whatever the planner knows of the table), all in one
    executemany of the statement compiled once; how many rows changed."""
    if not marks:
        return 0
    return prepared(_MARK, connection.dialect).execute(
        connection,
        [
            {
                "row": item.id,
                "holder": sender,
                "status": item.status,
                "attempts": item.attempts,
                "last_error": item.last_error,
                "sent_at": item.sent_at,
                "next_attempt_at": item.next_attempt_at,
                "message_id": item.message_id,
                "provider_id": item.provider_id,
            }
            for item in marks
        ],
    )


def release(session: Session, sender: str) -> int:
    """Give back every row `sender` still holds, untouched (it stops before sending them);
    how many. Rows of a run that ended meanwhile (cancelled, or past its window) are then
    ended as its own were: the run is read after the rows are given back, so a cancel
    committed in between finds them queued, or is found here."""
    held = (OutboxItem.claim == sender) & (OutboxItem.status == OutboxStatus.SENDING)
    runs = session.scalars(select(OutboxItem.run_id).where(held).distinct()).all()
    given = changed(
        session,
        update(OutboxItem)
        .where(held)
        .values(status=OutboxStatus.QUEUED, claim=None)
        .execution_options(synchronize_session=False),
    )
    ended = select(DigestRun.id, DigestRun.status).where(
        DigestRun.id.in_(runs), DigestRun.status.in_(tuple(_ENDED))
    )
    for run_id, status in session.execute(ended).all():
        _ENDED[RunStatus(status)](session, run_id)
    return given


def backlog(session: Session, run_id: int, now: datetime) -> Backlog:
    """What is left of `run_id`; a row with no next-attempt time is due at `now`."""
    queued, timed, next_due = session.execute(
        select(
            func.count(),
            func.count(OutboxItem.next_attempt_at),
            func.min(OutboxItem.next_attempt_at),
        ).where(OutboxItem.run_id == run_id, OutboxItem.status == OutboxStatus.QUEUED)
    ).one()
    in_flight = session.scalar(
        select(func.count()).where(
            OutboxItem.run_id == run_id, OutboxItem.status == OutboxStatus.SENDING
        )
    )
    due = None if not queued else now if timed < queued else next_due
    return Backlog(queued or 0, due, in_flight or 0)


def idle_runs(
    session: Session, now: datetime, timeout: float, run_ids: Sequence[int] | None = None
) -> list[int]:
    """Unfinished runs that no live sender is working on but that have work now: rows due,
    rows held by a sender whose heartbeat stopped, or a channel-fault pause due for its
    probe (those of `run_ids` only, if given). What a lost or killed worker left behind."""
    fresh = now - timedelta(seconds=timeout)
    held = (OutboxItem.run_id == DigestRun.id) & (OutboxItem.status == OutboxStatus.SENDING)
    live = exists().where(held, Sender.id == OutboxItem.claim, Sender.heartbeat >= fresh)
    stale = exists().where(held)
    due = exists().where(
        OutboxItem.run_id == DigestRun.id,
        OutboxItem.status == OutboxStatus.QUEUED,
        (OutboxItem.next_attempt_at.is_(None)) | (OutboxItem.next_attempt_at <= now),
    )
    sending = DigestRun.status.in_((RunStatus.QUEUED, RunStatus.SENDING)) & ~live & (due | stale)
    probe = (
        (DigestRun.status == RunStatus.PAUSED)
        & DigestRun.resume_at.is_not(None)
        & (DigestRun.resume_at <= now)
    )
    query = select(DigestRun.id).where(sending | probe).order_by(DigestRun.id)
    if run_ids is not None:
        query = query.where(DigestRun.id.in_(run_ids))
    return list(session.scalars(query))


def counts(session: Session, run_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per run, how many rows are in each status (every status present, zeros too)."""
    totals = {run_id: dict.fromkeys(OutboxStatus, 0) for run_id in run_ids}
    rows = session.execute(
        select(OutboxItem.run_id, OutboxItem.status, func.count())
        .where(OutboxItem.run_id.in_(run_ids))
        .group_by(OutboxItem.run_id, OutboxItem.status)
    )
    for run_id, status, count in rows:
        totals[run_id][OutboxStatus(status)] = count
    return {run_id: {str(k): v for k, v in tally.items()} for run_id, tally in totals.items()}


def fail_rows(session: Session, ids: Sequence[int], sender: str, reason: str) -> None:
    """Fail claimed rows for good, e.g. when their selection cannot be rendered."""
    session.execute(
        update(OutboxItem)
        .where(OutboxItem.id.in_(ids), OutboxItem.claim == sender)
        .values(status=OutboxStatus.FAILED, claim=None, last_error=reason)
        .execution_options(synchronize_session=False)
    )


def expire(session: Session, run: DigestRun, now: datetime) -> str:
    """End a run past its window: rows never tried are skipped, rows that kept failing are
    failed with their last error; nothing goes out late. The note saying so."""
    gave_up, skipped = _expire_rows(session, run.id)
    move(run, RunStatus.EXPIRED, now)
    run.note = (
        f"expired at {run.expires_at:%Y-%m-%d %H:%M} UTC; {skipped + gave_up} messages not"
        f" sent late ({gave_up} had kept failing)"
    )
    return run.note


def cancel(session: Session, run: DigestRun, now: datetime) -> None:
    _cancel_rows(session, run.id)
    move(run, RunStatus.CANCELLED, now)
    run.note = "cancelled by an admin"


def _expire_rows(session: Session, run_id: int) -> tuple[int, int]:
    """A past window's end for the queued rows of `run_id`: how many failed, how many
    were skipped."""
    waiting = (OutboxItem.run_id == run_id) & (OutboxItem.status == OutboxStatus.QUEUED)
    gave_up = changed(
        session,
        update(OutboxItem)
        .where(waiting, OutboxItem.attempts > 0)
        .values(status=OutboxStatus.FAILED, claim=None)
        .execution_options(synchronize_session=False),
    )
    skipped = changed(
        session,
        update(OutboxItem)
        .where(waiting)
        .values(status=OutboxStatus.SKIPPED, claim=None, last_error="run expired")
        .execution_options(synchronize_session=False),
    )
    return gave_up, skipped


def _cancel_rows(session: Session, run_id: int) -> None:
    session.execute(
        update(OutboxItem)
        .where(OutboxItem.run_id == run_id, OutboxItem.status == OutboxStatus.QUEUED)
        .values(status=OutboxStatus.SKIPPED, last_error="run cancelled")
        .execution_options(synchronize_session=False)
    )


# What the end of a run does to its queued rows, by how it ended, for rows given back after.
_ENDED = {RunStatus.CANCELLED: _cancel_rows, RunStatus.EXPIRED: _expire_rows}


def move(run: DigestRun, target: RunStatus, now: datetime) -> bool:
    """Move `run` to `target` if its status allows; whether it moved."""
    if not RunStatus(run.status).can_become(target):
        return False
    run.status = target
    if target in FINISHED:
        run.finished_at, run.resume_at = now, None
    return True


def last_failure(session: Session, run_id: int) -> str | None:
    return session.scalar(
        select(OutboxItem.last_error)
        .where(OutboxItem.run_id == run_id, OutboxItem.status == OutboxStatus.FAILED)
        .order_by(OutboxItem.id.desc())
        .limit(1)
    )


def last_digests(
    session: Session, first: int, last: int, *, but: str | None = None
) -> dict[int, datetime]:
    """The last delivered digest's cutoff of each subscriber whose id is from `first` to
    `last` (absent: never had one), leaving out runs of frequency `but`; a broadcast is no
    digest and moves nobody's window. A range, not a list of ids: a plan reads subscribers
    in id order, chunk by chunk."""
    query = (
        select(OutboxItem.subscriber_id, func.max(DigestRun.cutoff))
        .join(DigestRun, DigestRun.id == OutboxItem.run_id)
        .where(
            OutboxItem.subscriber_id.between(first, last),
            OutboxItem.status == OutboxStatus.SENT,
            DigestRun.kind == "digest",
        )
        .group_by(OutboxItem.subscriber_id)
    )
    if but is not None:
        query = query.where(DigestRun.frequency != but)
    rows = session.execute(query)
    return {subscriber: cutoff for subscriber, cutoff in rows if subscriber is not None}


def problems(session: Session, run_id: int, limit: int) -> list[Any]:
    """Rows that failed or wait for a retry, with their errors and addresses."""
    return list(
        session.execute(
            select(OutboxItem, Subscriber.email)
            .outerjoin(Subscriber, Subscriber.id == OutboxItem.subscriber_id)
            .where(
                OutboxItem.run_id == run_id,
                OutboxItem.status.in_((OutboxStatus.FAILED, OutboxStatus.QUEUED)),
                OutboxItem.last_error.is_not(None),
            )
            .order_by(OutboxItem.id)
            .limit(limit)
        ).all()
    )


def deliveries_to(
    session: Session, subscriber_id: int, limit: int
) -> list[tuple[OutboxItem, DigestRun]]:
    """The subscriber's rows with their runs, newest first: sent, failed or still to go."""
    query = (
        select(OutboxItem, DigestRun)
        .join(DigestRun, DigestRun.id == OutboxItem.run_id)
        .where(OutboxItem.subscriber_id == subscriber_id)
        .order_by(OutboxItem.id.desc())
        .limit(limit)
    )
    return [(item, run) for item, run in session.execute(query)]


def prune(session: Session, now: datetime, keep: timedelta = RETENTION) -> int:
    """Delete the ended rows of runs planned more than `keep` before `now`, except each
    subscriber's latest sent row (selection reads it: without it their next digest would
    start again from the first-digest lookback); how many went."""
    other, other_run = aliased(OutboxItem), aliased(DigestRun)
    latest_cutoff = (
        select(func.max(other_run.cutoff))
        .join(other, other.run_id == other_run.id)
        .where(other.subscriber_id == OutboxItem.subscriber_id, other.status == OutboxStatus.SENT)
        .scalar_subquery()
    )
    own_cutoff = select(DigestRun.cutoff).where(DigestRun.id == OutboxItem.run_id).scalar_subquery()
    latest_sent = (
        (OutboxItem.status == OutboxStatus.SENT)
        & OutboxItem.subscriber_id.is_not(None)
        & (own_cutoff == latest_cutoff)
    )
    old_runs = select(DigestRun.id).where(DigestRun.created < now - keep)
    return changed(
        session,
        delete(OutboxItem).where(
            OutboxItem.status.in_(ENDED_ROWS), OutboxItem.run_id.in_(old_runs), ~latest_sent
        ),
    )

"""Draining a run's outbox: claim a batch, send it, mark each row — exactly once per person.

Rows are claimed (status `sending`, a claim token, a time) in one short transaction
before anything goes out, and marked sent/failed right after, so a crash leaves only the
claimed rows in doubt: they are re-sent once their lease (SEND_LEASE_SECONDS) runs out,
and no other row is ever sent twice. Several processes can drain one run side by side.
A subscriber who unsubscribed after the run was planned is skipped at claim time.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from pipeline.delivery import Backend, SendResult
from pipeline.digest import digest_recipient, digest_template, render_digest
from pipeline.keys import signing_keys
from pipeline.mail.dkim import dkim_signer
from pipeline.mail.template import MessageTemplate, OutgoingMessage
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.storage.models import DigestRun, DigestSelection, OutboxItem, Post
from subscribers import Subscriber, SubscriberStore, TokenSigner

BATCH_SIZE = 500
RETRY_BASE_SECONDS = 30.0
RETRY_MAX_SECONDS = 3_600.0
WAIT_BUDGET_SECONDS = 120.0
_HARD_BOUNCE = re.compile(r"\b5\.1\.\d{1,3}\b")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class SendReport:
    """What one call to `send_run` did, and how the run stands afterwards."""

    run_id: int
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retrying: int = 0
    status: str = "sending"
    note: str | None = None
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the command's output."""
        line = (
            f"run {self.run_id}: {self.sent} sent, {self.failed} failed, {self.skipped} skipped"
            f" ({self.status})"
        )
        if self.retrying:
            line += f"; {self.retrying} waiting to be retried"
        return line + (f": {self.note}" if self.note else "")


Progress = Callable[[SendReport], None]


class RunSender:
    """Sends one run's queued rows through a backend."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        backend: Backend,
        *,
        batch_size: int = BATCH_SIZE,
        retry_base: float = RETRY_BASE_SECONDS,
        wait_budget: float = WAIT_BUDGET_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db, self.settings, self.backend = db, settings, backend
        self.batch_size, self.retry_base, self.wait_budget = batch_size, retry_base, wait_budget
        self.clock = clock
        keys = signing_keys(settings)
        self.signer, self.signer_key = TokenSigner(keys), keys[0]
        self.store = SubscriberStore(db.sessions, default_timezone=settings.timezone)
        self.sign = dkim_signer(settings)
        self.templates: dict[int, MessageTemplate | None] = {}
        self.consecutive_failures = 0
        self.last_error: str | None = None

    def send(self, run_id: int, progress: Progress | None = None) -> SendReport:
        """Send until the run is done, paused, expired, or only has retries not yet due."""
        report = SendReport(run_id)
        waited = 0.0
        while True:
            if self._stopped(run_id, report):
                return report
            claimed = self._claim(run_id)
            if claimed:
                self._deliver(run_id, claimed, report)
                if progress:
                    progress(report)
                continue
            pause = self._next_retry_in(run_id)
            if pause is None:
                self._finish(run_id, report)
                return report
            if waited + pause > self.wait_budget:
                report.retrying = self._count(run_id, "queued")
                return report
            time.sleep(pause)
            waited += pause

    def _stopped(self, run_id: int, report: SendReport) -> bool:
        """Whether the run cannot send now (finished, paused, cancelled, or just expired)."""
        now = self.clock()
        with self.db.session() as session:
            run = session.get(DigestRun, run_id)
            if run is None:
                raise LookupError(f"no digest run {run_id}")
            if run.status == "queued":
                run.status = "sending"
            if run.status == "sending" and now > run.expires_at:
                _expire(session, run, now)
            report.status, report.note = run.status, run.note
            return run.status != "sending"

    def _claim(self, run_id: int) -> list[int]:
        """Mark up to a batch of due rows as ours (re-queuing those whose lease ran out)."""
        now = self.clock()
        token = uuid.uuid4().hex
        lease = timedelta(seconds=self.settings.send_lease_seconds)
        with self.db.session() as session:
            session.execute(
                update(OutboxItem)
                .where(
                    OutboxItem.run_id == run_id,
                    OutboxItem.status == "sending",
                    OutboxItem.claimed_at < now - lease,
                )
                .values(status="queued", claim=None)
            )
            due = (
                select(OutboxItem.id)
                .where(
                    OutboxItem.run_id == run_id,
                    OutboxItem.status == "queued",
                    (OutboxItem.next_attempt_at.is_(None)) | (OutboxItem.next_attempt_at <= now),
                )
                .order_by(OutboxItem.id)
                .limit(self.batch_size)
            )
            session.execute(
                update(OutboxItem)
                .where(OutboxItem.id.in_(due.scalar_subquery()), OutboxItem.status == "queued")
                .values(
                    status="sending",
                    claim=token,
                    claimed_at=now,
                    attempts=OutboxItem.attempts + 1,
                ),
                execution_options={"synchronize_session": False},
            )
            return list(
                session.scalars(
                    select(OutboxItem.id).where(OutboxItem.claim == token).order_by(OutboxItem.id)
                )
            )

    def _deliver(self, run_id: int, row_ids: list[int], report: SendReport) -> None:
        """Build the claimed rows' messages, send them, and record each outcome."""
        with self.db.session() as session:
            rows = session.execute(
                select(OutboxItem, Subscriber)
                .outerjoin(Subscriber, Subscriber.id == OutboxItem.subscriber_id)
                .where(OutboxItem.id.in_(row_ids))
                .order_by(OutboxItem.id)
            ).all()
            outcomes: list[dict[str, Any]] = []
            messages: list[OutgoingMessage] = []
            attempts = {item.id: item.attempts for item, _ in rows}
            for item, subscriber in rows:
                template = self._template(session, item.selection_id)
                if subscriber is None or subscriber.status != "confirmed" or template is None:
                    outcomes.append(_skipped(item.id, subscriber, template))
                    continue
                message = template.render(
                    digest_recipient(self.settings, self.signer, subscriber, str(item.id)),
                    message_key=self._message_key(run_id, item.id),
                )
                messages.append(self.sign(message) if self.sign else message)
        report.skipped += len(outcomes)
        self._record(run_id, outcomes, report)
        # Marked chunk by chunk: a crash can leave at most one chunk sent but unmarked.
        chunk = self.backend.max_batch
        for start in range(0, len(messages), chunk):
            if report.status == "paused":
                self._release(messages[start:])
                return
            part = messages[start : start + chunk]
            results = self.backend.send(part)
            self._record(run_id, self._outcomes(part, results, attempts, report), report)

    def _release(self, unsent: Sequence[OutgoingMessage]) -> None:
        """Give claimed rows back untouched (the run paused before they went out)."""
        with self.db.session() as session:
            session.execute(
                update(OutboxItem),
                [{"id": _row_id(message), "status": "queued", "claim": None} for message in unsent],
            )

    def _record(self, run_id: int, outcomes: list[dict[str, Any]], report: SendReport) -> None:
        with self.db.session() as session:
            if outcomes:
                session.execute(update(OutboxItem), outcomes)
            self._maybe_pause(session, run_id, report)

    def _message_key(self, run_id: int, row_id: int) -> str:
        """The same opaque Message-ID part every time this row is sent."""
        seed = f"{run_id}:{row_id}:{self.signer_key}".encode()
        return hashlib.sha256(seed).hexdigest()[:32]

    def _template(self, session: Session, selection_id: int) -> MessageTemplate | None:
        """The selection's message, rendered once per process; None if all its posts are gone."""
        if selection_id not in self.templates:
            selection = session.get(DigestSelection, selection_id)
            wanted = selection.post_ids if selection else []
            found = {
                post.id: post
                for post in session.scalars(
                    select(Post).where(Post.id.in_(wanted), Post.status == "published")
                )
            }
            posts = [found[post_id] for post_id in wanted if post_id in found]
            self.templates[selection_id] = (
                digest_template(self.settings, render_digest(self.settings, posts))
                if posts
                else None
            )
        return self.templates[selection_id]

    def _outcomes(
        self,
        messages: Sequence[OutgoingMessage],
        results: Sequence[SendResult],
        attempts: dict[int, int],
        report: SendReport,
    ) -> list[dict[str, Any]]:
        """Each result as an outbox row update; hard bounces go to the subscriber store."""
        row_of = {message.message_id: _row_id(message) for message in messages}
        now = self.clock()
        outcomes = []
        for result in results:
            row_id = row_of[result.message_id]
            row: dict[str, Any] = {"id": row_id, "claim": None}
            if result.ok:
                self.consecutive_failures = 0
                report.sent += 1
                row |= {
                    "status": "sent",
                    "sent_at": now,
                    "message_id": result.message_id,
                    "provider_id": result.provider_id,
                    "last_error": None,
                }
            else:
                self.consecutive_failures += 1
                row |= self._failure(result, attempts[row_id], now, report)
            outcomes.append(row)
        return outcomes

    def _failure(
        self, result: SendResult, attempts: int, now: datetime, report: SendReport
    ) -> dict[str, Any]:
        """A failed row: retried later if the failure may pass, else failed for good."""
        error = result.error or "unknown error"
        self.last_error = f"{result.recipient}: {error}"
        if not result.permanent and attempts < self.settings.send_max_attempts:
            delay = min(self.retry_base * 2 ** (attempts - 1), RETRY_MAX_SECONDS)
            retry_at = now + timedelta(seconds=delay * random.uniform(0.5, 1.5))
            return {"status": "queued", "next_attempt_at": retry_at, "last_error": error}
        report.failed += 1
        report.errors.append(f"{result.recipient}: {error}")
        if result.permanent and _HARD_BOUNCE.search(error):
            self.store.record_bounce(
                result.recipient, hard=True, threshold=self.settings.hard_bounce_limit
            )
        return {"status": "failed", "last_error": error}

    def _maybe_pause(self, session: Session, run_id: int, report: SendReport) -> None:
        """Stop a run that keeps failing (a wrong password, a blocked IP) and say why."""
        limit = self.settings.pause_after_failures
        if self.consecutive_failures < limit:
            return
        run = session.get(DigestRun, run_id)
        if run is not None and run.status == "sending":
            last = self.last_error or "see the outbox"
            run.status = report.status = "paused"
            run.note = report.note = f"paused after {limit} consecutive failures (last: {last})"

    def _next_retry_in(self, run_id: int) -> float | None:
        """Seconds until the next queued row is due, 0 if rows are claimed elsewhere, None
        when nothing is left to send."""
        with self.db.session() as session:
            due = session.scalar(
                select(func.min(OutboxItem.next_attempt_at)).where(
                    OutboxItem.run_id == run_id, OutboxItem.status == "queued"
                )
            )
            in_flight = session.scalar(
                select(func.count()).where(
                    OutboxItem.run_id == run_id, OutboxItem.status == "sending"
                )
            )
        if due is not None:
            return max((due - self.clock()).total_seconds(), 0.0) + 0.01
        if in_flight:
            return 1.0
        return None

    def _count(self, run_id: int, status: str) -> int:
        with self.db.session() as session:
            return (
                session.scalar(
                    select(func.count()).where(
                        OutboxItem.run_id == run_id, OutboxItem.status == status
                    )
                )
                or 0
            )

    def _finish(self, run_id: int, report: SendReport) -> None:
        with self.db.session() as session:
            run = session.get(DigestRun, run_id)
            if run is not None and run.status == "sending":
                run.status, run.finished_at = "done", self.clock()
            if run is not None:
                report.status, report.note = run.status, run.note


def _row_id(message: OutgoingMessage) -> int:
    """The outbox row a digest message was rendered for (its recipient's key)."""
    if message.recipient is None:
        raise ValueError(f"message {message.message_id} was not rendered for an outbox row")
    return int(message.recipient.key)


def _skipped(row_id: int, subscriber: Subscriber | None, template: object) -> dict[str, Any]:
    if subscriber is None:
        reason = "subscriber removed"
    elif subscriber.status != "confirmed":
        reason = f"subscriber {subscriber.status}"
    else:
        reason = "its posts were removed"
    return {"id": row_id, "status": "skipped", "claim": None, "last_error": reason}


def _expire(session: Session, run: DigestRun, now: datetime) -> None:
    """A run past its window: what is still queued is skipped, not sent late."""
    left = session.execute(
        update(OutboxItem)
        .where(OutboxItem.run_id == run.id, OutboxItem.status == "queued")
        .values(status="skipped", claim=None, last_error="run expired")
    ).rowcount
    run.status, run.finished_at = "expired", now
    run.note = f"expired at {run.expires_at:%Y-%m-%d %H:%M} UTC; {left} messages not sent late"

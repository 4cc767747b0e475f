"""Sending a run: a pipe fed in batches. Claim → render → send → mark, until nothing is left.

The next batch is claimed and rendered while the backend sends this one, and outcomes are
recorded by a group-commit writer while connections go on sending (`recorder`), so the
database never waits on the relay nor the relay on the database. Claims belong to this
process as a registered, live sender (`senders`); on any exit what it still holds unsent
goes back to the queue.

Failures: a permanent one fails that row; a transient one is retried with backoff until
the run's window ends; a fault of the whole channel (no connection, credentials refused, a
full disk) pauses the run, and the sweep probes it again after a growing pause, so it
resumes by itself once the channel works. A selection that cannot be rendered fails its
own rows and the rest of the run goes on.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.archive import archive_url, keep
from pipeline.cpus import one_cpu
from pipeline.delivery import Backend, Finished, SendResult, open_backend
from pipeline.digest import digest_recipient, digest_template, render_digest
from pipeline.editorial import Editorial, mail_parts
from pipeline.editorial.broadcast import KIND as BROADCAST
from pipeline.editorial.broadcast import render_broadcast, stored_broadcast
from pipeline.keys import signing_keys
from pipeline.mail import confirmation_message
from pipeline.mail.dkim import DkimSigner, dkim_signer
from pipeline.mail.template import MessageTemplate, OutgoingMessage, Recipient
from pipeline.outbox import rows, senders
from pipeline.outbox.invitations import INVITATION
from pipeline.outbox.recorder import Recorder, Ticket
from pipeline.outbox.status import OutboxStatus, RunStatus
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.storage.models import DigestRun, DigestSelection, Post
from subscribers import SubscriberStore, TokenSigner
from subscribers.timestamps import utcnow

log = logging.getLogger(__name__)

BATCH_SIZE = 500
RETRY_BASE_SECONDS = 30.0
RETRY_MAX_SECONDS = 3_600.0
PROBE_BASE_SECONDS = 30.0
PROBE_MAX_SECONDS = 900.0
WAIT_BUDGET_SECONDS = 120.0
IN_FLIGHT_POLL_SECONDS = 0.5
_HARD_BOUNCE = re.compile(r"\b5\.1\.\d{1,3}\b")

Clock = Callable[[], datetime]


@dataclass
class SendReport:
    """What one `send_run` did, and how the run stands afterwards."""

    run_id: int
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retrying: int = 0
    taken_over: int = 0
    refused: int = 0
    status: str = RunStatus.SENDING
    stopped_at_limit: bool = False
    note: str | None = None
    next_attempt: datetime | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status == RunStatus.DONE

    def summary(self) -> str:
        """One line for the command's output."""
        line = (
            f"run {self.run_id}: {self.sent} sent, {self.failed} failed, {self.skipped} skipped"
            f" ({self.status})"
        )
        if self.taken_over:
            line += f"; took over {self.taken_over} messages from a stopped sender"
        if self.refused:
            line += f"; {self.refused} outcomes refused (another sender had taken them over)"
        if self.retrying and self.next_attempt:
            line += (
                f"; {self.retrying} waiting to be retried, next at"
                f" {self.next_attempt:%Y-%m-%d %H:%M:%S} UTC"
            )
        return line + (f": {self.note}" if self.note else "")


# Called after each batch with the counts recorded so far (an email API's last request may
# be still being recorded: its copies are counted in the next call).
Progress = Callable[[SendReport], None]


def send_run(
    db: Database,
    settings: Settings,
    run_id: int,
    *,
    backend: Backend | None = None,
    clock: Clock = utcnow,
    wait: float = WAIT_BUDGET_SECONDS,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    batch_size: int = BATCH_SIZE,
    retry_base: float = RETRY_BASE_SECONDS,
    limit: int | None = None,
    signer: DkimSigner | None = None,
) -> SendReport:
    """Send `run_id` until it is done, paused, expired, or only has retries due later than
    `wait` seconds from now; with a `limit`, also once this pass has claimed that many rows
    while others are left (`stopped_at_limit`: a worker's chunk). Opens EMAIL_BACKEND
    unless given a `backend`, and makes a DKIM signer from the DKIM_* settings unless
    given one to use and keep (a worker's, whose key processes serve chunk after chunk)."""
    if backend is None:
        with open_backend(settings) as opened:
            return send_run(
                db,
                settings,
                run_id,
                backend=opened,
                clock=clock,
                wait=wait,
                progress=progress,
                sleep=sleep,
                batch_size=batch_size,
                retry_base=retry_base,
                limit=limit,
                signer=signer,
            )
    report = SendReport(run_id)
    with (
        _older_objects_set_aside(),
        one_cpu(settings.data_dir) if backend.sends_bytes else contextlib.nullcontext(),
        senders.SenderLife(db, clock, settings.sender_timeout_seconds) as life,
    ):
        sign = dkim_signer(settings) if signer is None else signer
        pipe = _Pipe(db, settings, backend, life.id, report, clock, retry_base, batch_size, sign)
        pipe.left = limit
        try:
            with Recorder(db, life.id, pipe.written) as recorder:
                pipe.recorder = recorder
                pipe.run(wait, progress, sleep)
            pipe.keep_archive()
        finally:
            if sign is not None and sign is not signer:
                sign.close()
            pipe.looks.close()
            db.patiently(lambda session: rows.release(session, life.id))
    return report


@contextlib.contextmanager
def _older_objects_set_aside() -> Iterator[None]:
    """The garbage collector leaves alone what the process held before the send: a full
    collection walks every object (modules, ORM mappings, templates), about 60 ms a time
    while every thread waits, several times in a send of thousands of copies. Whatever
    among them becomes garbage meanwhile is collected once the send ends."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class _Pipe:
    """One sender's pass over one run."""

    recorder: Recorder
    left: int | None = None  # rows this pass may still claim; None: no limit

    def __init__(
        self,
        db: Database,
        settings: Settings,
        backend: Backend,
        sender: str,
        report: SendReport,
        clock: Clock,
        retry_base: float,
        batch_size: int,
        sign: DkimSigner | None,
    ) -> None:
        self.db, self.settings, self.backend, self.sender = db, settings, backend, sender
        self.report, self.clock = report, clock
        self.run_id = report.run_id
        self.retry_base, self.batch_size = retry_base, batch_size
        keys = signing_keys(settings)
        self.signer, self.signer_key = TokenSigner(keys), keys[0]
        self.store = SubscriberStore(db.sessions, default_timezone=settings.timezone)
        self.sign = sign
        self.templates: dict[int, MessageTemplate | str] = {}
        self.attempts: dict[int, int] = {}
        self.addresses: dict[int, str] = {}
        self.channel_fault: str | None = None
        self.recovering = False
        self.reaping = True  # whether the next claim first takes back stopped senders' rows
        self.delivered = False  # whether a copy went out (the report counts what is recorded)
        self.run_key: tuple[str, str, str] | None = None  # kind, frequency, period
        self.archived = False
        self.looks = db.held_connection(single_statements=True)  # the run's status

    def run(self, wait: float, progress: Progress | None, sleep: Callable[[float], None]) -> None:
        waited = 0.0
        with ThreadPoolExecutor(1, thread_name_prefix="outbox-prepare") as ahead:
            prepared: Future[list[OutgoingMessage]] | None = None
            while True:
                self.recorder.check()
                if not self._begin():
                    return
                batch = prepared.result() if prepared else self._prepare()
                prepared = None
                if batch:
                    prepared = ahead.submit(self._prepare)
                    self.backend.send(batch, self._done)
                    self.keep_archive()
                    if progress:
                        progress(self.report)
                    if self.channel_fault:
                        self.recorder.flush()
                        self._pause(self.channel_fault)
                        return
                    if self.recovering:
                        self._recovered()
                    continue
                self.recorder.flush()  # the backlog counts the last batch's marks
                left = self.db.patiently(
                    lambda session: rows.backlog(session, self.run_id, self.clock())
                )
                if left.empty:
                    self._finish()
                    return
                if self.left == 0:
                    self.report.stopped_at_limit = True
                    return
                now = self.clock()
                if left.next_due is None or left.next_due <= now:  # in flight elsewhere
                    sleep(IN_FLIGHT_POLL_SECONDS)
                    continue
                pause = (left.next_due - now).total_seconds()
                if waited + pause > wait:
                    self.report.retrying, self.report.next_attempt = left.queued, left.next_due
                    return
                sleep(pause)
                waited += pause

    def _begin(self) -> bool:
        """Whether the run may send now: a queued run starts, a run paused by a channel
        fault is probed once its time has come, a run past its window expires."""
        now = self.clock()
        if self.run_key is not None and not self.recovering:  # looked at in full before
            sending, note = rows.plainly_sending(self.looks, self.run_id, now)
            if sending:
                self.report.note = note
                return True

        def work(session: Session) -> bool:
            run = session.get(DigestRun, self.run_id)
            if run is None:
                raise LookupError(f"no digest run {self.run_id}")
            status = RunStatus(run.status)
            if status is RunStatus.PAUSED and run.resume_at is not None and run.resume_at <= now:
                rows.move(run, RunStatus.SENDING, now)
                run.note = f"trying again after a fault of the channel ({run.faults} so far)"
            elif status is RunStatus.QUEUED:
                rows.move(run, RunStatus.SENDING, now)
            if run.status == RunStatus.SENDING and now > run.expires_at:
                rows.expire(session, run, now)
            self.recovering = run.faults > 0
            self.run_key = (run.kind, run.frequency, run.period)
            self.report.status, self.report.note = run.status, run.note
            return run.status == RunStatus.SENDING

        return self.db.patiently(work)

    def _prepare(self) -> list[OutgoingMessage]:
        """Claim the next due rows and render them. The rows of stopped senders are taken
        back first thing, and again whenever the due rows do not fill a batch: not for
        every batch, where looking cost as much CPU as a tenth of the send."""
        now = self.clock()
        timeout = self.settings.sender_timeout_seconds
        size = self.batch_size if self.left is None else min(self.batch_size, self.left)
        if not size:
            return []

        def work(session: Session) -> tuple[int, list[rows.Claimed]]:
            taken = senders.reap(session, self.run_id, now, timeout) if self.reaping else 0
            claimed = rows.claim(session, self.run_id, self.sender, now, size)
            if len(claimed) < size and not self.reaping:
                taken = senders.reap(session, self.run_id, now, timeout)
                more = rows.claim(session, self.run_id, self.sender, now, size - len(claimed))
                claimed = sorted(claimed + more, key=lambda row: row.id)
            return taken, claimed

        taken, claimed = self.db.patiently(work)
        self.reaping = False
        self.report.taken_over += taken
        if self.left is not None:
            self.left -= len(claimed)
        messages = self._render(claimed)
        if messages:
            self.backend.ready(messages)
        return messages

    def _render(self, claimed: list[rows.Claimed]) -> list[OutgoingMessage]:
        messages, marks = [], []
        inviting = self._kind() == INVITATION  # only pending people are asked to confirm
        wanted = "pending" if inviting else "confirmed"
        for row in claimed:
            self.attempts[row.id] = row.attempts
            template = None if inviting else self._template(row.selection_id)
            person = row.subscriber
            if person is not None:
                self.addresses[row.id] = person.email
            if person is None or person.status != wanted:
                reason = "subscriber removed" if person is None else f"subscriber {person.status}"
                marks.append(rows.Mark(row.id, OutboxStatus.SKIPPED, row.attempts, reason))
            elif isinstance(template, str):
                marks.append(rows.Mark(row.id, OutboxStatus.FAILED, row.attempts, template))
            else:
                try:
                    message = (
                        self._invitation(person, row.id)
                        if template is None
                        else self._copy(template, person, row.id)
                    )
                except ValueError as exc:  # one person's fault, e.g. an address SMTP cannot carry
                    marks.append(rows.Mark(row.id, OutboxStatus.FAILED, row.attempts, str(exc)))
                    continue
                messages.append(message)
        messages = self._signed(messages, marks)
        if marks:
            self.recorder.record(marks).wait()
        return messages

    def _signed(
        self, messages: list[OutgoingMessage], marks: list[rows.Mark]
    ) -> list[OutgoingMessage]:
        """`messages` with DKIM signatures, if on: made in key processes for a backend
        that sends the bytes (a copy that cannot be signed gets a failed mark in
        `marks`), else only if something reads them."""
        if self.sign is None:
            return messages
        if not self.backend.sends_bytes:
            return [self.sign(message) for message in messages]
        signed = self.sign.many(messages)
        for message, reason in signed.unsignable:
            row_id = _row_id(message)
            marks.append(rows.Mark(row_id, OutboxStatus.FAILED, self.attempts[row_id], reason))
        return signed.messages

    def _kind(self) -> str:
        if self.run_key is None:
            return self.db.patiently(self._run_key)[0]
        return self.run_key[0]

    def _invitation(self, person: rows.Person, row_id: int) -> OutgoingMessage:
        """The confirmation mail for a pending person, keyed to its outbox row."""
        token = self.signer.confirm_token(person)
        asked = confirmation_message(
            self.settings,
            to_email=person.email,
            confirm_url=f"{self.settings.base_url}/confirm/{token}",
        )
        assert asked.template is not None
        return asked.template.render(
            Recipient(str(row_id), person.email), message_key=self._message_key(row_id)
        )

    def _copy(self, template: MessageTemplate, person: rows.Person, row_id: int) -> OutgoingMessage:
        """A digest's copy for one confirmed person, keyed to its outbox row."""
        recipient = digest_recipient(self.settings, self.signer, person, str(row_id))
        return template.render(recipient, message_key=self._message_key(row_id))

    def _template(self, selection_id: int) -> MessageTemplate | str:
        """The selection's message, rendered once per sender; a string says why it cannot
        be (its posts are gone, or rendering failed)."""
        if selection_id not in self.templates:
            try:
                self.templates[selection_id] = self.db.patiently(
                    lambda session: self._build(session, selection_id)
                )
            except Exception as exc:  # one selection's fault: its rows fail, the run goes on
                log.warning("digest selection %s cannot be rendered: %s", selection_id, exc)
                self.templates[selection_id] = f"cannot render the digest: {exc}"
        return self.templates[selection_id]

    def _build(self, session: Session, selection_id: int) -> MessageTemplate | str:
        run = session.get(DigestRun, self.run_id)
        link = archive_url(self.settings, *self._run_key(session)[1:])
        if run is not None and run.kind == BROADCAST:
            content = render_broadcast(self.settings, stored_broadcast(run), link)
            return digest_template(self.settings, content)
        selection = session.get(DigestSelection, selection_id)
        wanted = selection.post_ids if selection else []
        found = {
            post.id: post
            for post in session.scalars(
                select(Post).where(Post.id.in_(wanted), Post.status == "published")
            )
        }
        posts = [found[post_id] for post_id in wanted if post_id in found]
        if not posts:
            return "its posts were removed"
        subject, intro = mail_parts(Editorial(run.subject, run.intro) if run else None)
        content = render_digest(
            self.settings,
            posts,
            run_id=self.run_id,
            archive_url=link,
            subject=subject,
            intro=intro,
        )
        return digest_template(self.settings, content)

    def _run_key(self, session: Session) -> tuple[str, str, str]:
        if self.run_key is None:
            run = session.get(DigestRun, self.run_id)
            if run is None:
                raise LookupError(f"no digest run {self.run_id}")
            self.run_key = (run.kind, run.frequency, run.period)
        return self.run_key

    def keep_archive(self) -> None:
        """Once this pass has sent a copy: the run's public copy in the archive, from its
        widest selection (for most digests, every post of the run), unless it has one."""
        if self.archived or not self.delivered or self._kind() == INVITATION:
            return
        self.archived = True

        def widest(session: Session) -> tuple[int | None, tuple[str, str, str]]:
            selections = session.execute(
                select(DigestSelection.id, DigestSelection.post_ids)
                .where(DigestSelection.run_id == self.run_id)
                .order_by(DigestSelection.id)
            ).all()
            chosen = max(selections, key=lambda row: len(row.post_ids), default=None)
            return (chosen.id if chosen else None), self._run_key(session)

        selection_id, (kind, frequency, period) = self.db.patiently(widest)
        template = self._template(selection_id) if selection_id is not None else None
        if not isinstance(template, MessageTemplate):
            template = next(
                (found for found in self.templates.values() if isinstance(found, MessageTemplate)),
                None,
            )
        if template is None:
            return
        keep(
            self.db,
            run_id=self.run_id,
            run_kind=kind,
            frequency=frequency,
            period=period,
            template=template,
            base_url=self.settings.base_url,
            now=self.clock(),
        )

    def _message_key(self, row_id: int) -> str:
        """The same opaque Message-ID part every time this row is sent."""
        seed = f"{self.run_id}:{row_id}:{self.signer_key}".encode()
        return hashlib.sha256(seed).hexdigest()[:32]

    def _done(self, finished: Finished) -> Ticket:
        """Called from the connection that sent the `finished` messages: their marks go to
        the writer together."""
        now = self.clock()
        marks = [
            self._mark(_row_id(message), message, results, now) for message, results in finished
        ]
        if any(item.status is OutboxStatus.SENT for item in marks):
            self.delivered = True
        return self.recorder.record(marks)

    def _mark(
        self, row_id: int, message: OutgoingMessage, results: list[SendResult], now: datetime
    ) -> rows.Mark:
        tried = self.attempts.get(row_id, 0)
        failure = next((result for result in results if not result.ok), None)
        if failure is None:
            provider_id = results[0].provider_id if results else None
            return rows.Mark(
                row_id,
                OutboxStatus.SENT,
                tried + 1,
                sent_at=now,
                message_id=message.message_id,
                provider_id=provider_id,
            )
        error = failure.error or "unknown error"
        if failure.channel:
            self.channel_fault = error
            return rows.Mark(row_id, OutboxStatus.QUEUED, tried, last_error=error)
        if failure.permanent:
            return rows.Mark(row_id, OutboxStatus.FAILED, tried + 1, last_error=error)
        delay = min(self.retry_base * 2**tried, RETRY_MAX_SECONDS) * random.uniform(0.5, 1.5)
        retry_at = now + timedelta(seconds=delay)
        return rows.Mark(
            row_id, OutboxStatus.QUEUED, tried + 1, last_error=error, next_attempt_at=retry_at
        )

    def written(self, marks: list[rows.Mark], refused: list[int]) -> None:
        """After each commit (writer thread): the report's tallies, and hard bounces. A row
        that has ended is forgotten, so a long run's memory stays flat."""
        report, gone = self.report, set(refused)
        report.refused += len(gone)
        for item in marks:
            if item.id in gone or item.status is OutboxStatus.QUEUED:
                continue
            self.attempts.pop(item.id, None)
            address = self.addresses.pop(item.id, None)
            if item.status is OutboxStatus.SENT:
                report.sent += 1
            elif item.status is OutboxStatus.SKIPPED:
                report.skipped += 1
            elif item.status is OutboxStatus.FAILED:
                report.failed += 1
                report.errors.append(f"{address or f'row {item.id}'}: {item.last_error}")
                if _HARD_BOUNCE.search(item.last_error or "") and address is not None:
                    self.store.record_bounce(
                        address, hard=True, threshold=self.settings.hard_bounce_limit
                    )

    def _pause(self, error: str) -> None:
        """A fault of the whole channel: pause, and let the sweep probe again later."""
        now = self.clock()

        def work(session: Session) -> None:
            run = session.get(DigestRun, self.run_id)
            if run is None or not rows.move(run, RunStatus.PAUSED, now):
                return
            run.faults += 1
            delay = min(PROBE_BASE_SECONDS * 2 ** (run.faults - 1), PROBE_MAX_SECONDS)
            run.resume_at = now + timedelta(seconds=delay)
            run.note = (
                f"paused: {error}; sending is tried again at {run.resume_at:%Y-%m-%d %H:%M:%S} UTC"
            )
            self.report.status, self.report.note = run.status, run.note
            self.report.next_attempt = run.resume_at

        self.db.patiently(work)

    def _recovered(self) -> None:
        """The channel works again: the next fault starts from the shortest pause."""

        def work(session: Session) -> None:
            run = session.get(DigestRun, self.run_id)
            if run is not None:
                run.faults, run.resume_at = 0, None

        self.db.patiently(work)
        self.recovering = False

    def _finish(self) -> None:
        """Nothing left: done, or failed when not one message went out."""
        now = self.clock()

        def work(session: Session) -> None:
            run = session.get(DigestRun, self.run_id)
            if run is not None and run.status == RunStatus.SENDING:
                tally = rows.counts(session, [self.run_id])[self.run_id]
                if tally[OutboxStatus.FAILED] and not tally[OutboxStatus.SENT]:
                    rows.move(run, RunStatus.FAILED, now)
                    last = rows.last_failure(session, self.run_id)
                    run.note = f"all {tally[OutboxStatus.FAILED]} messages failed (last: {last})"
                else:
                    rows.move(run, RunStatus.DONE, now)
            if run is not None:
                self.report.status, self.report.note = run.status, run.note

        self.db.patiently(work)


def _row_id(message: OutgoingMessage) -> int:
    """The outbox row a digest message was rendered for (its recipient's key)."""
    if message.recipient is None:
        raise ValueError(f"message {message.message_id} was not rendered for an outbox row")
    return int(message.recipient.key)

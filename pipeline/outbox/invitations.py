"""Invitations (the double opt-in mail) for many people at once, as an outbox run.

Asking is claimed (the one-per-address-per-hour limit, `confirmation_sent_at`) and queued
in the same transaction, so a crash before the commit asks nobody and one after it
loses nobody: the run's rows wait in the outbox and are sent, once each, like any run's.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from sqlalchemy.orm import Session

from pipeline.outbox import rows
from pipeline.outbox.status import RunStatus
from pipeline.storage import Database
from pipeline.storage.models import DigestRun, DigestSelection
from subscribers.store import claim_confirmations

INVITATION = "invitation"
# Unsent invitations older than this are stale (the person may have signed up again).
WINDOW = timedelta(days=2)
_CLAIM_BATCH = 500


@dataclass(frozen=True)
class Round:
    """An invitation round: its run (None when nobody was due) and the tallies."""

    run: DigestRun | None
    queued: int
    held: int


def queue_invitations(db: Database, subscriber_ids: Iterable[int], now: datetime) -> Round:
    """One run mailing the confirmation link to those of `subscriber_ids` still pending and
    not asked within the hour; the others are held back."""

    def work(session: Session) -> Round:
        wanted = iter(dict.fromkeys(subscriber_ids))  # once each, in order
        claimed: list[int] = []
        held = 0
        while ids := list(islice(wanted, _CLAIM_BATCH)):
            asked = claim_confirmations(session, ids, now)
            claimed += asked
            held += len(ids) - len(asked)
        if not claimed:
            return Round(None, 0, held)
        run = DigestRun(
            kind=INVITATION,
            frequency=INVITATION,
            period=f"{now:%Y%m%dT%H%M%S.%f}-{secrets.token_hex(4)}",
            status=RunStatus.QUEUED,
            created=now,
            cutoff=now,
            expires_at=now + WINDOW,
        )
        session.add(run)
        session.flush()
        selection = DigestSelection(run_id=run.id, post_ids=[])
        session.add(selection)
        session.flush()
        rows.queue(session, run.id, (rows.Queued(selection.id, person, None) for person in claimed))
        return Round(run, len(claimed), held)

    with db.session() as session:
        return work(session)

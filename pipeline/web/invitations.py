"""Invitations from a request: queued in the outbox, then sent by the app's background
senders (or handed to the workers), so an import of any size answers at once."""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.invitations import Invited, invite
from pipeline.web.state import WebState


def invite_soon(state: WebState, subscriber_ids: Iterable[int] | None = None) -> Invited:
    """Queue the confirmation link for these pending people (None: every pending one not
    asked within the hour) and start sending them in the background."""
    invited = invite(state.db, state.subscribers, subscriber_ids)
    if invited.run is not None:
        state.senders.start(state.db, state.settings, invited.run)
    return invited

"""Forms that only the admin's own pages can submit, and forms that work only once.

Every admin form carries its session's CSRF token (`AdminSession.csrf`), checked before any
POST is handled: another site can make a browser send a form, but cannot read the token.
A form that starts something (send now) also carries a one-time nonce, so a second press
of the button, or the browser re-sending the POST, does nothing new. Nonces live in the
database's shared web state, so a form served by one web process is spent for all of them.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from pipeline.storage.webstate import Record, SharedState
from pipeline.web.admin.auth import new_token

CSRF_FIELD = "csrf"
NONCE_FIELD = "nonce"
NONCE_SCOPE = "admin-nonce"
NONCE_SECONDS = 3600.0
NONCE_MAX_LENGTH = 100  # ours are 43 characters: a longer one is not looked up


def token_matches(expected: str | None, given: str | None) -> bool:
    """Whether a form's token is the expected one (compared in constant time)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


class OneTimeTokens:
    """Nonces handed out with a form; each can be used once, within NONCE_SECONDS, by
    whichever web process receives the form."""

    def __init__(self, state: SharedState) -> None:
        self._state = state

    def issue(self) -> str:
        nonce = new_token()
        until = self._state.clock() + timedelta(seconds=NONCE_SECONDS)
        self._state.remember(NONCE_SCOPE, nonce, until)
        return nonce

    def use(self, nonce: str | None) -> bool:
        """True the first time an issued, unexpired `nonce` is used; False ever after."""
        if not nonce or len(nonce) > NONCE_MAX_LENGTH:
            return False

        def spend(records: dict[str, Record], now: datetime) -> bool:
            record = records[nonce]
            issued = bool(record.data)
            record.data, record.expires_at = {}, now  # spent: purged with the expired
            return issued

        return self._state.change(NONCE_SCOPE, [nonce], spend)

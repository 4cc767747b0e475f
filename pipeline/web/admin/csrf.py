"""Forms that only the admin's own pages can submit, and forms that work only once.

Every admin form carries its session's CSRF token (`AdminSession.csrf`), checked before any
POST is handled: another site can make a browser send a form, but cannot read the token.
A form that starts something (send now) also carries a one-time nonce, so a second press
of the button, or the browser re-sending the POST, does nothing new.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from pipeline.web.admin.auth import new_token

CSRF_FIELD = "csrf"
NONCE_FIELD = "nonce"
NONCE_SECONDS = 3600.0
MAX_NONCES = 1000


def token_matches(expected: str | None, given: str | None) -> bool:
    """Whether a form's token is the expected one (compared in constant time)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


class OneTimeTokens:
    """Nonces handed out with a form; each can be used once, within NONCE_SECONDS. Only the
    MAX_NONCES newest are kept: an older form has to be opened again."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._issued: OrderedDict[str, float] = OrderedDict()  # nonce -> expiry
        self._lock = threading.Lock()

    def issue(self) -> str:
        nonce = new_token()
        with self._lock:
            self._issued[nonce] = self._clock() + NONCE_SECONDS
            while len(self._issued) > MAX_NONCES:
                self._issued.popitem(last=False)
        return nonce

    def use(self, nonce: str | None) -> bool:
        """True the first time an issued, unexpired `nonce` is used; False ever after."""
        with self._lock:
            expiry = self._issued.pop(nonce or "", None)
        return expiry is not None and expiry > self._clock()

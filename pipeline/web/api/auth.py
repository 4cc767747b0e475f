"""Bearer-token auth for /api: `Authorization: Bearer <NEWSLETTER_API_TOKEN>`.

Without API_TOKEN the API is off (503) rather than open: forgetting a setting must never
publish the subscriber list. The comparison takes the same time whatever the guess.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from pipeline.settings import ENV_PREFIX
from pipeline.web.api.errors import ApiError
from pipeline.web.state import web_state

API_OFF = f"the API is off: set {ENV_PREFIX}API_TOKEN"
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def check_token(request: Request) -> None:
    """Return if the request carries the API token; else raise ApiError (503 or 401)."""
    token = web_state(request).settings.api_token
    if token is None:
        raise ApiError(503, API_OFF)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # Digests, so not even the token's length shows; compared even when the scheme is
    # wrong, so timing does not tell the two cases apart.
    matches = hmac.compare_digest(_digest(given.strip()), _digest(token.get_secret_value()))
    if not (matches and scheme.lower() == "bearer"):
        raise ApiError(401, "a valid bearer token is needed", CHALLENGE)


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()

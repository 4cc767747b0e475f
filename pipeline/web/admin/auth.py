"""Who may use /admin: the ADMIN_USERNAME/ADMIN_PASSWORD check and the signed session cookie.

The session lives in the cookie, signed with the key ring (`pipeline.keys`), so restarting
the server signs no one out. The signing salt includes a digest of the credentials:
changing the password ends every session at once. Signing out records the session's id in
the database's shared web state until the cookie would have expired, so a copy of the
cookie fails in every process, also after a restart.
The sign-in form has its own short-lived cookie holding its CSRF token, so a page loaded
without the session cookie (SameSite=Strict: a link from another site) never overwrites it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.responses import Response

from pipeline.keys import signing_keys
from pipeline.settings import ENV_PREFIX, Settings
from pipeline.storage.webstate import SharedState

PATH = "/admin"
HOME = f"{PATH}/"  # the dashboard
SIGNIN_PATH = f"{PATH}/signin"
COOKIE = "newsletter_admin"
SIGNIN_COOKIE = "newsletter_admin_signin"
SESSION_SECONDS = 8 * 3600
SIGNIN_SECONDS = 3600
SIGNED_OUT_SCOPE = "admin-signed-out"
ADMIN_OFF = (
    f"The admin pages are off. To turn them on, set {ENV_PREFIX}ADMIN_USERNAME and "
    f"{ENV_PREFIX}ADMIN_PASSWORD, then restart `newsletter serve`."
)


@dataclass(frozen=True)
class AdminSession:
    """A signed-in admin: `sid` names the session, `csrf` is its forms' token."""

    user: str
    sid: str
    csrf: str


def admin_on(settings: Settings) -> bool:
    return bool(settings.admin_username and settings.admin_password)


def _password(settings: Settings) -> str:
    return settings.admin_password.get_secret_value() if settings.admin_password else ""


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def credentials_match(settings: Settings, username: str, password: str) -> bool:
    """Whether both match, in the same time whatever the guess: digests hide the lengths,
    and both are always compared."""
    user_ok = hmac.compare_digest(_digest(username), _digest(settings.admin_username or ""))
    password_ok = hmac.compare_digest(_digest(password), _digest(_password(settings)))
    return admin_on(settings) and user_ok & password_ok


class SessionCookies:
    """Issues and reads the admin's cookies for one app."""

    def __init__(self, settings: Settings, state: SharedState) -> None:
        ring = list(reversed(signing_keys(settings)))  # itsdangerous signs with the last key
        credentials = f"{settings.admin_username}\0{_password(settings)}"
        bound = hashlib.sha256(credentials.encode()).hexdigest()[:32]
        self._session = URLSafeTimedSerializer(ring, salt=f"newsletter.admin.session.{bound}")
        self._signin = URLSafeTimedSerializer(ring, salt="newsletter.admin.signin")
        self.secure = settings.site_url.scheme == "https"
        self._state = state

    def start(self, response: Response, user: str) -> None:
        """Sign `user` in on `response`, with a new session id and CSRF token (never one
        chosen before sign-in, so a planted cookie cannot become a session)."""
        payload = {"user": user, "sid": secrets.token_urlsafe(16), "csrf": new_token()}
        self._set(response, COOKIE, self._session.dumps(payload), SESSION_SECONDS, PATH)
        self._set(response, SIGNIN_COOKIE, "", 0, SIGNIN_PATH)

    def session(self, cookie: str | None) -> AdminSession | None:
        """The session a cookie carries, if well signed, unexpired and not signed out (asks
        the database)."""
        try:
            payload = self._session.loads(cookie or "", max_age=SESSION_SECONDS)
            session = AdminSession(str(payload["user"]), str(payload["sid"]), str(payload["csrf"]))
        except (BadData, KeyError, TypeError):
            return None
        return None if self._state.known(SIGNED_OUT_SCOPE, session.sid) else session

    def end(self, response: Response, session: AdminSession) -> None:
        """Sign out: the cookie goes, and its copies no longer work anywhere."""
        until = self._state.clock() + timedelta(seconds=SESSION_SECONDS)
        self._state.remember(SIGNED_OUT_SCOPE, session.sid, until)
        self._set(response, COOKIE, "", 0, PATH)

    def signin_token(self, cookie: str | None) -> str | None:
        """The sign-in form's CSRF token its cookie carries, if valid."""
        try:
            return str(self._signin.loads(cookie or "", max_age=SIGNIN_SECONDS))
        except BadData:
            return None

    def offer_signin(self, response: Response, token: str) -> None:
        """Set the cookie that carries the sign-in form's CSRF `token` (see `new_token`)."""
        value = self._signin.dumps(token)
        self._set(response, SIGNIN_COOKIE, value, SIGNIN_SECONDS, SIGNIN_PATH)

    def _set(self, response: Response, name: str, value: str, max_age: int, path: str) -> None:
        """Set (or with `max_age` 0, delete) one of the admin's cookies."""
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=path,
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )


def new_token() -> str:
    """An unguessable token for a form."""
    return secrets.token_urlsafe(32)

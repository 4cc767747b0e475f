"""An import file held between its preview and the admin's confirmation, so confirming
needs no second upload.

The preview writes the uploaded bytes to a private (0600) file under DATA_DIR/imports,
named by a random id, and gives the page a token signed with SECRET_KEY naming that file,
the admin session it belongs to, the choices made and when. Confirming from the same
session within HOLD_SECONDS imports exactly that file, which is deleted as it is taken, so
a token works once. Files whose preview was never confirmed go with the next preview after
they expire.
"""

from __future__ import annotations

import contextlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadData, URLSafeSerializer

from pipeline.keys import signing_keys
from pipeline.private import write_private
from pipeline.settings import Settings
from pipeline.web.admin.auth import AdminSession

HOLD_SECONDS = 3600
_ID = re.compile(r"[A-Za-z0-9_-]{22}")


class NotHeld(Exception):
    """The token names no file this session may import (any more); the message says why."""


@dataclass(frozen=True)
class Held:
    """An uploaded file and the choices its preview was made with."""

    data: bytes
    file_name: str
    confirmed: bool


def hold(settings: Settings, session: AdminSession, held: Held, *, now: float | None = None) -> str:
    """Keep `held` for this session's confirmation; the token the confirm form sends back."""
    moment = time.time() if now is None else now
    folder = _folder(settings)
    _sweep(folder, moment)
    file_id = secrets.token_urlsafe(16)
    write_private(folder / file_id, held.data)
    payload = {
        "file": file_id,
        "sid": session.sid,
        "name": held.file_name,
        "confirmed": held.confirmed,
        "at": moment,
    }
    return _serializer(settings).dumps(payload)


def take(
    settings: Settings, session: AdminSession, token: str, *, now: float | None = None
) -> Held:
    """The file `token` names, deleted from disk: it can be imported once."""
    try:
        payload = _serializer(settings).loads(token)
        file_id, sid = str(payload["file"]), str(payload["sid"])
        issued, name, confirmed = float(payload["at"]), str(payload["name"]), payload["confirmed"]
    except (BadData, KeyError, TypeError, ValueError) as exc:
        raise NotHeld("This preview did not come from this admin. Upload the file again.") from exc
    if not hmac.compare_digest(sid.encode(), session.sid.encode()) or not _ID.fullmatch(file_id):
        raise NotHeld("This preview belongs to another session. Upload the file again.")
    path = _folder(settings) / file_id
    if (time.time() if now is None else now) - issued > HOLD_SECONDS:
        path.unlink(missing_ok=True)
        raise NotHeld("This preview has expired. Upload the file again.")
    try:
        data = path.read_bytes()
        path.unlink()
    except FileNotFoundError as exc:
        raise NotHeld("This preview was imported already. Upload the file again.") from exc
    return Held(data, name, confirmed is True)


def _folder(settings: Settings) -> Path:
    return settings.data_dir / "imports"


def _serializer(settings: Settings) -> URLSafeSerializer:
    ring = list(reversed(signing_keys(settings)))  # itsdangerous signs with the last key
    return URLSafeSerializer(ring, salt="newsletter.admin.import")


def _sweep(folder: Path, now: float) -> None:
    """Delete held files older than HOLD_SECONDS: previews nobody confirmed."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        with contextlib.suppress(FileNotFoundError):
            if now - path.stat().st_mtime > HOLD_SECONDS:
                path.unlink()

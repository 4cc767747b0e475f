"""The signing key ring for subscriber tokens.

SECRET_KEY may hold several comma-separated keys: the first signs, every one verifies, so
rotating a key never breaks the unsubscribe links already sitting in inboxes. Unset, a
key is generated once into DATA_DIR/secret_key (owner-only) and reused from then on.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pipeline.settings import Settings

KEY_FILE = "secret_key"


def signing_keys(settings: Settings) -> list[str]:
    """The key ring, newest (signing) key first."""
    if settings.secret_key is not None:
        keys = [key.strip() for key in settings.secret_key.get_secret_value().split(",")]
        return [key for key in keys if key]
    return [_generated_key(settings.data_dir / KEY_FILE)]


def _generated_key(path: Path) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process generated it first: use theirs
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key

"""Files only their owner may read, whatever the umask: the SQLite database (and the -wal
and -shm files SQLite gives the database's permissions), subscriber exports, digest
previews (a preview for one subscriber carries a live manage link), and subscriber lists
held between an import's preview and its confirmation."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TextIO

PRIVATE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def open_private(path: Path) -> TextIO:
    """`path` opened for writing text (truncated), readable by its owner only; a file that
    was there keeps no wider permissions."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    try:
        os.fchmod(descriptor, PRIVATE_MODE)
    except OSError:
        os.close(descriptor)
        raise
    return os.fdopen(descriptor, "w", encoding="utf-8", newline="")


def write_private(path: Path, data: bytes) -> None:
    """A new file `path` holding `data`, readable by its owner only, in a folder only its
    owner may enter; an existing file is never overwritten."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    with os.fdopen(descriptor, "wb") as file:
        os.fchmod(descriptor, PRIVATE_MODE)
        file.write(data)


def private_database(path: Path) -> None:
    """Create the SQLite file `path` owner-only before SQLite does (SQLite creates its
    -wal and -shm files with the database's permissions), and take group and others'
    access from one that exists (a database made before this rule): the database holds
    every subscriber's address."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_MODE))
    for file in (path, *(path.with_name(path.name + end) for end in SQLITE_COMPANIONS)):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if file.stat().st_mode & 0o077:
                file.chmod(PRIVATE_MODE)

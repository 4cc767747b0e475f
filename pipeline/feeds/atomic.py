"""Files that readers see whole or not at all: write a temporary file, then rename it.

A web server or feed reader may read a feed at any moment; `os.replace` swaps the new
file in with one rename, so a reader gets either the old document or the new one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

FILE_MODE = 0o644  # feeds are public; mkstemp would leave them readable by us only


def write_atomic(path: Path, data: bytes) -> bool:
    """Put `data` at `path` unless it already holds exactly that; return whether it wrote."""
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return True


def remove_files(folder: Path, names: tuple[str, ...]) -> None:
    """Delete `names` from `folder`, then the folder itself if nothing else is left in it."""
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()

"""Files that readers see whole or not at all: write a temporary file, then rename it.

A feed reader or a mail watcher may read at any moment; `os.replace` swaps the new file
in with one rename, so a reader gets either nothing (or the old file) or the whole new one.
A file that already holds the same bytes is left alone, its modification time included.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PUBLIC_MODE = 0o644  # what anyone may read (feeds): mkstemp leaves files readable by us only


def replace_file(path: Path, data: bytes, *, mode: int) -> None:
    """Put `data` at `path` atomically, durably (fsync), with permissions `mode`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def replace_if_changed(path: Path, data: bytes, *, mode: int = PUBLIC_MODE) -> bool:
    """Put `data` at `path` unless it already holds exactly that; return whether it wrote."""
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    replace_file(path, data, mode=mode)
    return True


def remove_files(folder: Path, names: tuple[str, ...]) -> None:
    """Delete `names` from `folder`, then the folder itself if nothing else is left in it."""
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()

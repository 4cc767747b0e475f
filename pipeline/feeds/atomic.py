"""Feed files: written atomically, and only when their bytes change."""

from __future__ import annotations

import contextlib
from pathlib import Path

from pipeline.atomic import replace_file

FILE_MODE = 0o644  # feeds are public; mkstemp would leave them readable by us only


def write_atomic(path: Path, data: bytes) -> bool:
    """Put `data` at `path` unless it already holds exactly that; return whether it wrote."""
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    replace_file(path, data, mode=FILE_MODE)
    return True


def remove_files(folder: Path, names: tuple[str, ...]) -> None:
    """Delete `names` from `folder`, then the folder itself if nothing else is left in it."""
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()

"""Markdown an editor hands the command line: read with a size cap, as UTF-8."""

from __future__ import annotations

from pathlib import Path

from pipeline.editorial.note import MAX_INTRO, EditorialError

_MAX_BYTES = MAX_INTRO * 4  # UTF-8 takes at most four bytes a character


def read_markdown(path: Path, limit: int = MAX_INTRO) -> str:
    """The text of `path`; EditorialError (one line, naming the file) if it cannot be read,
    is not UTF-8 or is longer than `limit` characters."""
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_BYTES + 1)
    except OSError as exc:
        raise EditorialError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EditorialError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if len(data) > _MAX_BYTES or len(text) > limit:
        raise EditorialError(f"{path}: longer than {limit} characters")
    return text

"""Spreadsheet formula injection: a cell starting with = + - @, a tab or a CR may run as a
formula when an admin opens an export in Excel or LibreOffice. A leading ' disarms it."""

from __future__ import annotations

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def protect(cell: str) -> str:
    """The cell with a leading ' if a spreadsheet could run it. A cell that only looks
    protected already (''=x) gets one more, so `unprotect` gives back every cell exactly."""
    return "'" + cell if cell.lstrip("'").startswith(_TRIGGERS) else cell


def unprotect(cell: str) -> str:
    """The cell as it was before `protect`."""
    return cell[1:] if cell.startswith("'") and cell.lstrip("'").startswith(_TRIGGERS) else cell

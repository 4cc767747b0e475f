"""Splitting a long list into pages: which rows one page shows, and its neighbours."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Query

# The `?page=` of every admin list: a whole number from 1 (anything else is "no such
# page"); one past the end shows the last page, so no offset ever reaches the database
# beyond the rows there are.
PageNumber = Annotated[int, Query(alias="page", ge=1)]


@dataclass(frozen=True)
class Paging:
    """The page `requested` (from 1, past the end: the last) of `total` rows, `size` to
    a page."""

    requested: int
    size: int
    total: int

    @property
    def number(self) -> int:
        return max(1, min(self.requested, self.pages))

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None

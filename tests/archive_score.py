"""Scoring how plain-text archive pages are split into posts, against hand-written
expectations: post recall and precision (a post counts when its title is found exactly)
and author accuracy (of the posts found, those whose authors are exactly right)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.sources.plaintext import parse_text

ARCHIVES = Path(__file__).parent / "fixtures" / "archives"
SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"


@dataclass
class Score:
    expected: int = 0
    found: int = 0
    matched: int = 0
    authors_right: int = 0

    def add(self, other: Score) -> None:
        self.expected += other.expected
        self.found += other.found
        self.matched += other.matched
        self.authors_right += other.authors_right

    @property
    def recall(self) -> float:
        return self.matched / self.expected if self.expected else 1.0

    @property
    def precision(self) -> float:
        return self.matched / self.found if self.found else 1.0

    @property
    def author_accuracy(self) -> float:
        return self.authors_right / self.matched if self.matched else 1.0

    def line(self, name: str) -> str:
        return (
            f"{name}: recall {self.recall:.3f} ({self.matched}/{self.expected}),"
            f" precision {self.precision:.3f} ({self.matched}/{self.found}),"
            f" authors {self.author_accuracy:.3f} ({self.authors_right}/{self.matched})"
        )


def pages() -> list[tuple[str, str, list[dict]]]:
    """(name, text, expected posts) for every fixture page, and the seeds if present."""
    found = [
        (path.name, path.read_text(encoding="utf-8"), _expected(path.with_suffix(".json")))
        for path in sorted(ARCHIVES.glob("*.txt"))
    ]
    seeds = _expected(ARCHIVES / "seeds.json")
    for name, expected in seeds.items():
        if (SEEDS / name).is_file():
            found.append((name, (SEEDS / name).read_text(encoding="utf-8"), expected))
    return found


def _expected(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def score(text: str, expected: list[dict]) -> Score:
    posts = parse_text(text)
    wanted = {item["title"]: tuple(item["authors"]) for item in expected}
    result = Score(expected=len(expected), found=len(posts))
    for post in posts:
        if post.title in wanted:
            result.matched += 1
            result.authors_right += post.authors == wanted.pop(post.title)
    return result

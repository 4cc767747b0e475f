"""How well plain-text archive pages are split into posts: recall, precision and author
accuracy per page and overall, on tests/fixtures/archives and ../shared/seeds.

    .venv/bin/python -P bench/archive_split.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # for archive_score
from archive_score import Score, pages, score


def main() -> None:
    total = Score()
    for name, text, expected in pages():
        page = score(text, expected)
        total.add(page)
        print(page.line(name))
    print(total.line("overall"))


if __name__ == "__main__":
    main()

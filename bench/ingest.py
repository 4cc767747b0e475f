"""Ingest benchmark: 10,000 generated Markdown posts, then a re-run with nothing changed.

Each phase runs in its own process so its peak memory (ru_maxrss) is its own. Figures
are printed, never asserted; compare the ratios, not the seconds, across machines.

    .venv/bin/python -P bench/ingest.py [--posts 10000]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for bench.corpus
from bench.corpus import WORDS
from bench.phases import peak_mib, run_in_child


def generate(folder: Path, count: int) -> None:
    """Write `count` Markdown posts with front matter, a few paragraphs and tags each."""
    rng = random.Random(42)
    for number in range(count):
        paragraphs = "\n\n".join(
            " ".join(rng.choices(WORDS, k=rng.randint(40, 90))).capitalize() + "."
            for _ in range(rng.randint(3, 8))
        )
        tags = ", ".join(f"tag{rng.randrange(200)}" for _ in range(3))
        (folder / f"post-{number:05d}.md").write_text(
            f"---\ntitle: Post {number} about {rng.choice(WORDS)}\n"
            f"date: 2026-{1 + number % 12:02d}-{1 + number % 28:02d}T09:00:00Z\n"
            f"author: Author {rng.randrange(50)}\ntags: [{tags}]\n---\n{paragraphs}\n",
            encoding="utf-8",
        )


def phase(folder: Path, database: Path) -> None:
    """Run one ingest in this process and print its figures as JSON."""
    from pipeline.ingest import ingest
    from pipeline.settings import load_settings
    from pipeline.storage import open_database

    settings = load_settings(
        database_url=f"sqlite:///{database}",
        sources=[{"name": "bench", "kind": "directory", "path": str(folder)}],
    )
    db = open_database(settings.effective_database_url)
    started = time.perf_counter()
    [report] = ingest(db, settings)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_mib": peak_mib(), "summary": report.summary()}))


def run_phase(folder: Path, database: Path) -> dict:
    return run_in_child(__file__, "--phase", folder, database)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--phase", nargs=2, metavar=("FOLDER", "DATABASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        phase(Path(args.phase[0]), Path(args.phase[1]))
        return
    with tempfile.TemporaryDirectory() as scratch:
        folder, database = Path(scratch, "posts"), Path(scratch, "bench.db")
        folder.mkdir()
        generate(folder, args.posts)
        first = run_phase(folder, database)
        rerun = run_phase(folder, database)
    print(f"posts: {args.posts}")
    for name, figures in (("first ingest", first), ("re-run, nothing changed", rerun)):
        rate = args.posts / figures["seconds"]
        print(
            f"{name:>24}: {figures['seconds']:7.2f} s  {rate:9.0f} posts/s  "
            f"peak {figures['peak_mib']:6.1f} MiB  ({figures['summary']})"
        )
    print(f"re-run is {first['seconds'] / rerun['seconds']:.0f}x faster than the first ingest")


if __name__ == "__main__":
    main()

"""Feeds benchmark: 10,000 posts with 200 tags and 50 authors; a first build, a rebuild with
nothing changed, and a rebuild after one post changed.

Posts are inserted as rows into a temporary SQLite database (no ingest). Each build runs
in its own process so its peak memory (ru_maxrss) is its own. Figures are printed,
never asserted; compare the ratios, not the seconds, across machines.

    .venv/bin/python -P bench/feeds.py [--posts 10000] [--tags 200] [--authors 50]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for bench.corpus
from bench.corpus import WORDS
from bench.phases import peak_mib, run_in_child

START = datetime(2020, 1, 1, 9, 0, tzinfo=UTC)


def populate(database: Path, _out: Path, posts: int, tags: int, authors: int) -> None:
    """Insert `posts` published posts, each with three tags and one or two authors."""
    from sqlalchemy import insert

    from pipeline.storage import open_database
    from pipeline.storage.models import Post

    rng = random.Random(42)
    rows = []
    for number in range(posts):
        paragraphs = "".join(
            "<p>" + " ".join(rng.choices(WORDS, k=rng.randint(40, 90))).capitalize() + ".</p>\n"
            for _ in range(rng.randint(3, 8))
        )
        published = START + timedelta(hours=number)
        rows.append(
            {
                "guid": f"https://bench.example.org/posts/{number}",
                "source": "bench",
                "slug": f"post-{number}",
                "status": "published",
                "title": f"Post {number} about {rng.choice(WORDS)}",
                "url": f"https://bench.example.org/posts/{number}",
                "authors": [f"Author {n}" for n in rng.sample(range(authors), rng.randint(1, 2))],
                "tags": [f"Tag {n}" for n in rng.sample(range(tags), 3)],
                "summary": paragraphs[3:200],
                "content_html": paragraphs,
                "content_hash": f"{number:064x}",
                "published": published,
                "updated": published,
                "first_seen": published,
            }
        )
    db = open_database(f"sqlite:///{database}")
    with db.session() as session:
        session.execute(insert(Post), rows)
    db.close()


def change_one_post(database: Path, _out: Path) -> None:
    """Edit the newest post, as an ingest that saw it change would."""
    from sqlalchemy import func, select, update

    from pipeline.storage import open_database
    from pipeline.storage.models import Post

    db = open_database(f"sqlite:///{database}")
    with db.session() as session:
        newest = session.scalar(select(func.max(Post.id)))
        session.execute(
            update(Post)
            .where(Post.id == newest)
            .values(title="Edited", content_hash="edited", updated=datetime.now(UTC))
        )
    db.close()


def build(database: Path, out: Path) -> None:
    """Run one build in this process and print its figures as JSON."""
    from pipeline.feeds import build_feeds
    from pipeline.settings import load_settings
    from pipeline.storage import open_database

    settings = load_settings(
        database_url=f"sqlite:///{database}", site_url="https://bench.example.org"
    )
    db = open_database(settings.effective_database_url)
    started = time.perf_counter()
    report = build_feeds(db, settings, out)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_mib": peak_mib(), "summary": report.summary()}))


STEPS = {"populate": populate, "change": change_one_post, "build": build}


def run(step: str, database: Path, out: Path, *options: int) -> dict:
    """Run one step in a fresh process: a child inherits its parent's peak memory, so the
    parent never generates posts itself. `-P` keeps bench/ off the child's import path,
    where a script could shadow a package of the same name."""
    return run_in_child(__file__, "--step", step, database, out, *options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--tags", type=int, default=200)
    parser.add_argument("--authors", type=int, default=50)
    parser.add_argument("--step", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        name, database, out, *options = args.step
        STEPS[name](Path(database), Path(out), *map(int, options))
        return
    with tempfile.TemporaryDirectory() as scratch:
        database, out = Path(scratch, "bench.db"), Path(scratch, "public")
        run("populate", database, out, args.posts, args.tags, args.authors)
        first = run("build", database, out)
        rerun = run("build", database, out)
        run("change", database, out)
        changed = run("build", database, out)
        files = [path.stat().st_size for path in out.rglob("*") if path.is_file()]
    print(f"posts: {args.posts}, tags: {args.tags}, authors: {args.authors}")
    for name, figures in (
        ("first build", first),
        ("rebuild, nothing changed", rerun),
        ("rebuild, one post changed", changed),
    ):
        print(
            f"{name:>26}: {figures['seconds']:7.3f} s  peak {figures['peak_mib']:6.1f} MiB"
            f"  ({figures['summary'].split(' in ')[0]})"
        )
    print(f"output: {len(files)} files, {sum(files) / 2**20:.1f} MiB")
    print(f"unchanged rebuild is {first['seconds'] / rerun['seconds']:.0f}x faster than the first")


if __name__ == "__main__":
    main()

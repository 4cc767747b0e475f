"""Feeds on a disk that fills up: `ingest` says so in one line, and once there is room
again the next `ingest` finishes the feeds although no post changed since.

The disk is real: a small tmpfs mounted for the test (which needs the right to mount).
"""

from __future__ import annotations

import contextlib
import errno
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runner import run

POST = "---\ntitle: {title}\ndate: 2026-10-0{day}T09:00:00Z\ntags: [{tag}]\n---\n{body}\n"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 kB tmpfs, unmounted after the test."""
    mount_point = tmp_path / "public"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def fill(folder: Path) -> Path:
    """Write zeros into `folder` until its disk is full; the file that holds them."""
    filler = folder / "filler"
    with contextlib.suppress(OSError), filler.open("wb", buffering=0) as file:
        while True:
            file.write(bytes(4096))
    assert _no_room(folder)
    return filler


def _no_room(folder: Path) -> bool:
    try:
        (folder / "probe").write_bytes(bytes(4096))
    except OSError as exc:
        return exc.errno == errno.ENOSPC
    (folder / "probe").unlink()
    return False


def test_a_full_disk_is_one_line_and_the_next_run_finishes_the_feeds(
    tmp_path: Path, small_disk: Path
) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "first.md").write_text(POST.format(title="First", day=1, tag="old", body="One."))
    settings = {"FEEDS_DIR": str(small_disk)}
    assert run("ingest", cwd=tmp_path, **settings).returncode == 0

    filler = fill(small_disk)
    body = "A longer post. " * 400
    (content / "second.md").write_text(POST.format(title="Second", day=2, tag="new", body=body))
    full = run("ingest", cwd=tmp_path, **settings)
    assert full.returncode == 1
    assert len(full.stderr.splitlines()) == 1  # which file failed is the build's business
    assert full.stderr.startswith("error: cannot write feeds: No space left on device (")
    assert "content: 1 new" in full.stdout

    filler.unlink()
    again = run("ingest", cwd=tmp_path, **settings)
    assert again.returncode == 0, again.stderr
    assert "content: 0 new, 0 updated, 2 unchanged" in again.stdout
    assert "feeds: 0 written" not in again.stdout
    site = json.loads((small_disk / "feed.json").read_text())
    assert [item["title"] for item in site["items"]] == ["Second", "First"]
    assert (small_disk / "tags" / "new" / "feed.json").is_file()
    settled = run("ingest", cwd=tmp_path, **settings)
    assert "feeds:" not in settled.stdout  # nothing left to build

"""A directory source's awkward paths, through the real CLI: dangling symlinks, symlink
loops, folders it may not list, a FIFO, and Jekyll names that differ only by date."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC
from pathlib import Path

import pytest
import requests
from cli_runner import NEWSLETTER, clean_environment, run, serving

from pipeline.sources.base import derive_guid
from pipeline.sources.directory import DirectorySource

SHOWN = Path("content")  # the default source, as errors name it (relative to the cwd)
POST = "---\ntitle: {title}\ndate: 2026-10-01T09:00:00Z\n---\nBody of {title}.\n"
# Root reads any folder whatever its mode; without these capabilities it is refused like
# any other user (setpriv drops them from the bounding set of the command it runs).
WITHOUT_ROOT_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def content(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    folder.mkdir()
    (folder / "good.md").write_text(POST.format(title="Good"))
    return folder


def titles(tmp_path: Path) -> dict[str, str]:
    listed = run("posts", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    return {post["title"]: post["id"] for post in json.loads(listed.stdout)}


def test_dangling_symlink_and_loop_are_one_line_each(tmp_path: Path) -> None:
    folder = content(tmp_path)
    target = folder / "deleted.md"
    (folder / "dangling.md").symlink_to(target)
    (folder / "loop.md").symlink_to(folder / "loop.md")
    os.mkfifo(folder / "pipe.md")  # opening it would block the read for ever
    result = run("ingest", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {SHOWN / 'dangling.md'}: symbolic link to a missing file ({target})",
        f"error: {SHOWN / 'loop.md'}: symbolic link loop",
        f"error: {SHOWN / 'pipe.md'}: not a regular file",
    ]
    assert "content: 1 new, 0 updated, 0 unchanged, 0 removed, 3 failed" in result.stdout
    assert list(titles(tmp_path)) == ["Good"]


def test_serve_starts_beside_a_dangling_symlink(tmp_path: Path) -> None:
    folder = content(tmp_path)
    (folder / "dangling.md").symlink_to(folder / "deleted.md")
    with serving(tmp_path) as (server, base):
        assert "Good" in requests.get(f"{base}/feed.xml", timeout=2).text
    assert server.stdout is not None
    output = server.stdout.read()
    assert f"error: {SHOWN / 'dangling.md'}: symbolic link to a missing file" in output
    assert "Traceback" not in output


def test_an_unreadable_sub_folder_is_an_error_and_retires_nothing(tmp_path: Path) -> None:
    folder = content(tmp_path)
    (folder / "2026").mkdir()
    (folder / "2026" / "inner.md").write_text(POST.format(title="Inner"))
    assert run("ingest", cwd=tmp_path).returncode == 0
    (folder / "2026").chmod(0)
    try:
        result = subprocess.run(
            [*(WITHOUT_ROOT_OVERRIDE if os.geteuid() == 0 else []), NEWSLETTER, "ingest"],
            cwd=tmp_path,
            env=clean_environment(),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        (folder / "2026").chmod(0o755)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {SHOWN / '2026'}: cannot list folder (Permission denied)"
    ]
    assert "0 removed, 1 failed" in result.stdout
    assert set(titles(tmp_path)) == {"Good", "Inner"}


@pytest.mark.parametrize("added", ["2026-11-28-roundup.md", "2026-11-26-roundup.md"])
def test_jekyll_names_differing_by_date_are_two_posts(tmp_path: Path, added: str) -> None:
    folder = content(tmp_path)
    (folder / "2026-11-27-roundup.md").write_text(POST.format(title="Roundup 27"))
    assert run("ingest", cwd=tmp_path).returncode == 0
    first = titles(tmp_path)["Roundup 27"]
    (folder / added).write_text(POST.format(title="Roundup other"))
    result = run("ingest", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 new, 0 updated, 2 unchanged, 0 removed" in result.stdout
    after = titles(tmp_path)
    assert after["Roundup 27"] == first  # the file that had the id keeps it
    assert after["Roundup other"] != first
    again = run("ingest", cwd=tmp_path)
    assert "0 new, 0 updated, 3 unchanged" in again.stdout


def test_jekyll_names_read_together_are_two_posts(tmp_path: Path) -> None:
    folder = content(tmp_path)
    for day in (27, 28):
        (folder / f"2026-11-{day}-roundup.md").write_text(POST.format(title=f"Roundup {day}"))
    result = run("ingest", cwd=tmp_path)
    assert "content: 3 new" in result.stdout
    assert {"Roundup 27", "Roundup 28"} <= set(titles(tmp_path))


def test_names_merged_by_an_earlier_read_are_split(tmp_path: Path) -> None:
    """A state recorded when both files shared one id: the later file is read again."""
    folder = content(tmp_path)
    source = DirectorySource("content", folder, timezone=UTC)
    fingerprints = {}
    for day in (27, 28):
        path = folder / f"2026-11-{day}-roundup.md"
        path.write_text(POST.format(title=f"Roundup {day}"))
        fingerprints[path.name] = [path.stat().st_mtime_ns, path.stat().st_size]
    shared = derive_guid("content", guid=None, url=None, slug="roundup")
    files = {name: {"fingerprint": mark, "guids": [shared]} for name, mark in fingerprints.items()}
    batch = source.read({"files": files})
    assert sorted(entry.title for entry in batch.entries) == ["Good", "Roundup 28"]
    assert batch.present is not None and shared in batch.present and len(batch.present) == 3

"""The manifest: each written feed's fingerprint, so an unchanged feed is never re-rendered."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.atomic import replace_if_changed
from pipeline.feeds.model import is_feed_path

MANIFEST = ".manifest.json"


def read_manifest(root: Path) -> dict[str, str]:
    """Fingerprints by feed path; an unreadable or foreign manifest counts as empty."""
    try:
        feeds = json.loads((root / MANIFEST).read_text(encoding="utf-8")).get("feeds", {})
    except (OSError, ValueError, AttributeError):
        return {}
    if not isinstance(feeds, dict):
        return {}
    return {path: str(digest) for path, digest in feeds.items() if is_feed_path(path)}


def write_manifest(root: Path, fingerprints: dict[str, str]) -> None:
    """Store the fingerprints (a no-op when the file already says exactly this)."""
    document = {"feeds": dict(sorted(fingerprints.items()))}
    replace_if_changed(root / MANIFEST, (json.dumps(document, indent=1) + "\n").encode())

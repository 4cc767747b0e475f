"""Schemathesis against /api's own OpenAPI document, with the token: whatever valid or
invalid input it generates, the API never answers with a server error (5xx).

It runs as `schemathesis run`, its command line, against the app on a loopback port (the
pytest plugin's fixture-based loader fails under pytest 9). The app sends for real: a
small content folder, a confirmed subscriber, the file backend.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import AUTH, api_app, recent_post, serving

from pipeline.settings import Settings
from pipeline.storage import Database
from subscribers import SubscriberStore

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Per operation and phase: enough to reach every input check, and well under a minute.
EXAMPLES = 15


def test_no_request_makes_a_server_error(settings: Settings, db: Database, posts_dir: Path) -> None:
    (posts_dir / "post.md").write_text(recent_post("Open data in cities", 3, "tags: [Policy]\n"))
    store = SubscriberStore(db.sessions, default_timezone=settings.timezone)
    store.add("reader@example.org", confirmed=True)
    with serving(api_app(settings, db)) as base:
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                f"{base}/api/openapi.json",
                "--header",
                f"Authorization: {AUTH['Authorization']}",
                "--checks",
                "not_a_server_error",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                str(EXAMPLES),
                "--generation-database",
                "none",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Tested: 15" in run.stdout, run.stdout  # every operation, none skipped

"""Running the `newsletter` command as a user would: a real process, a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

NEWSLETTER = str(Path(sys.executable).with_name("newsletter"))


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any NEWSLETTER_ variable, plus `settings`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    environment.update({f"NEWSLETTER_{key}": value for key, value in settings.items()})
    return environment


def run(*args: str, cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """`newsletter ARGS` in `cwd` with NEWSLETTER_<KEY>=value for each of `settings`."""
    return subprocess.run(
        [NEWSLETTER, *args],
        cwd=cwd,
        env=clean_environment(**settings),
        capture_output=True,
        text=True,
        timeout=120,
    )

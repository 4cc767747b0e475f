"""Running a benchmark's phases each in a fresh process, so each peak memory is its own.

A child inherits nothing of its parent's memory; `-P` keeps bench/ off the child's import
path, where a script such as bench/subscribers.py would shadow the package it measures.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from typing import Any


def peak_mib() -> float:
    """This process's peak resident memory so far, in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_in_child(script: str, flag: str, *args: object, **options: Any) -> dict[str, Any]:
    """Run `script FLAG ARGS…` in a fresh interpreter; its stdout is one JSON object."""
    command = [sys.executable, "-P", script, flag, *map(str, args)]
    output = subprocess.run(
        command, check=True, stdout=subprocess.PIPE, text=True, **options
    ).stdout
    return json.loads(output or "{}")

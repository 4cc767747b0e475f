"""The subscriber package stands alone (its tables are checked with the others in
test_storage)."""

from __future__ import annotations

import subprocess
import sys


def test_subscribers_never_imports_pipeline() -> None:
    check = (
        "import sys, subscribers, subscribers.csv_import, subscribers.csv_export;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pipeline'))"
    )
    output = subprocess.run(
        [sys.executable, "-c", check], check=True, capture_output=True, text=True
    ).stdout
    assert output.strip() == "[]"

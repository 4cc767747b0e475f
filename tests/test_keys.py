"""The signing key ring: configured keys in order, or one generated once and kept."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pipeline.keys import signing_keys
from pipeline.settings import SettingsProblem, load_settings


def test_configured_keys_newest_first() -> None:
    settings = load_settings(secret_key="new-key-0123456789, old-key-0123456789")
    assert signing_keys(settings) == ["new-key-0123456789", "old-key-0123456789"]


def test_short_keys_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "long-enough-key-123,short")
    with pytest.raises(SettingsProblem, match="NEWSLETTER_SECRET_KEY: each comma-separated key"):
        load_settings()


def test_a_key_is_generated_once_into_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "var")
    [first] = signing_keys(settings)
    [again] = signing_keys(settings)
    assert first == again and len(first) >= 48
    key_file = tmp_path / "var" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

"""Settings: defaults, environment and .env, and one-line errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.settings import SettingsProblem, load_settings


def test_defaults_follow_the_design() -> None:
    settings = load_settings()
    assert settings.effective_database_url == "sqlite:///var/newsletter.db"
    assert settings.effective_feeds_dir == Path("var/public")
    assert settings.email_backend == "file"
    assert [source.name for source in settings.sources] == ["content"]
    assert settings.digest_schedule == "0 8 * * mon"
    assert settings.base_url == "http://127.0.0.1:8000"


def test_environment_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("NEWSLETTER_SITE_TITLE=From dotenv\nNEWSLETTER_SMTP_PORT=2525\n")
    monkeypatch.setenv("NEWSLETTER_SMTP_PORT", "587")
    monkeypatch.setenv(
        "NEWSLETTER_SOURCES", '[{"name":"blog","kind":"feed","url":"https://example.org/feed"}]'
    )
    settings = load_settings()
    assert settings.site_title == "From dotenv"
    assert settings.smtp_port == 587
    assert str(settings.sources[0].url) == "https://example.org/feed"


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", "hunter2")
    monkeypatch.setenv("NEWSLETTER_API_KEY", "key-123")
    shown = load_settings().masked()
    assert shown["NEWSLETTER_SMTP_PASSWORD"] == "********"
    assert shown["NEWSLETTER_API_KEY"] == "********"
    assert "hunter2" not in str(shown) and "key-123" not in str(shown)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("TIMEZONE", "Mars/Olympus", "NEWSLETTER_TIMEZONE: unknown time zone 'Mars/Olympus'"),
        ("SMTP_PORT", "eighty", "NEWSLETTER_SMTP_PORT: Input should be a valid integer"),
        ("SMTP_PORT", "70000", "NEWSLETTER_SMTP_PORT: Input should be less than or equal"),
        ("EMAIL_BACKEND", "pigeon", "NEWSLETTER_EMAIL_BACKEND: Input should be 'smtp'"),
        ("DIGEST_SCHEDULE", "every monday", "NEWSLETTER_DIGEST_SCHEDULE: not a crontab"),
        ("SOURCES", "[{", "NEWSLETTER_SOURCES: not valid JSON"),
        ("SOURCES", '[{"name":"x","kind":"feed"}]', "NEWSLETTER_SOURCES (0): source 'x'"),
        ("SOURCES", '[{"name":"x","kind":"ftp","url":"x"}]', "NEWSLETTER_SOURCES (0 kind)"),
        ("SITE_URL", "not a url", "NEWSLETTER_SITE_URL: Input should be a valid URL"),
        ("DATABASE_URL", "mysql://x", "NEWSLETTER_DATABASE_URL: use sqlite"),
        ("SEND_RATE", "-1", "NEWSLETTER_SEND_RATE: Input should be greater than or equal to 0"),
    ],
)
def test_bad_values_name_the_variable_in_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(f"NEWSLETTER_{variable}", value)
    with pytest.raises(SettingsProblem) as problem:
        load_settings()
    assert str(problem.value).startswith(expected)
    assert "\n" not in str(problem.value)


def test_duplicate_source_names_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "NEWSLETTER_SOURCES",
        '[{"name":"a","kind":"directory","path":"x"},{"name":"a","kind":"directory","path":"y"}]',
    )
    with pytest.raises(SettingsProblem, match="source names must be unique: a"):
        load_settings()


def test_digest_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_DIGEST_WINDOWS", '{"daily": 12}')
    assert load_settings().digest_windows == {"each": 24, "daily": 12, "weekly": 72, "monthly": 168}
    monkeypatch.setenv("NEWSLETTER_DIGEST_SUBJECT", "{site}: {nope}")
    with pytest.raises(SettingsProblem, match=r"NEWSLETTER_DIGEST_SUBJECT: unknown placeholder"):
        load_settings()
    monkeypatch.delenv("NEWSLETTER_DIGEST_SUBJECT")
    monkeypatch.setenv("NEWSLETTER_DKIM_SELECTOR", "s1")
    with pytest.raises(SettingsProblem) as problem:
        load_settings()
    assert str(problem.value).startswith("DKIM needs all of NEWSLETTER_DKIM_KEY_FILE")

"""Settings from the environment and `.env`, prefix NEWSLETTER_ (see DESIGN.md).

Every command loads them through `load_settings`, which turns any validation problem
into one readable line naming the variable, so a typo never shows a traceback.
"""

from __future__ import annotations

import ipaddress
import json
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from pipeline.frequencies import default_windows
from pipeline.redact import MASK, redacted_values
from subscribers.profile import Frequency

ENV_PREFIX = "NEWSLETTER_"
MIN_KEY_LENGTH = 16
MIN_ADMIN_PASSWORD_LENGTH = 12
BROKER_SCHEMES = frozenset({"redis", "rediss", "amqp", "amqps", "pyamqp"})

EmailBackend = Literal["smtp", "postmark", "sendgrid", "mailgun", "resend", "file", "console"]


class SettingsProblem(Exception):
    """A setting is missing or wrong; the message is one line naming the variable."""


class SourceConfig(BaseModel):
    """One entry of SOURCES: a named origin of posts."""

    model_config = {"extra": "forbid"}

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    kind: Literal["directory", "feed", "wordpress"]
    path: str | None = None
    url: AnyHttpUrl | None = None

    @model_validator(mode="after")
    def _location_matches_kind(self) -> SourceConfig:
        if self.kind == "directory" and not self.path:
            raise ValueError(f"source {self.name!r} of kind directory needs a 'path'")
        if self.kind != "directory" and not self.url:
            raise ValueError(f"source {self.name!r} of kind {self.kind} needs a 'url'")
        return self


_DEFAULT_SOURCES = [SourceConfig(name="content", kind="directory", path="content")]


class Settings(BaseSettings):
    """The effective configuration of one installation."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,
        validate_default=True,
    )

    database_url: str | None = None
    data_dir: Path = Path("var")
    site_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000")
    site_title: str = "Newsletter"
    site_description: str = "New posts, delivered."
    language: Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] = "en"
    sources: list[SourceConfig] = Field(default_factory=lambda: list(_DEFAULT_SOURCES))
    feeds_dir: Path | None = None
    feed_max_items: Annotated[int, Field(ge=1, le=10_000)] = 50
    websub_hub: AnyHttpUrl | None = None
    site_icon: AnyHttpUrl | None = None
    site_favicon: AnyHttpUrl | None = None
    http_timeout: Annotated[float, Field(gt=0, le=300)] = 20.0
    http_retries: Annotated[int, Field(ge=0, le=10)] = 3
    feed_max_bytes: Annotated[int, Field(ge=1_000)] = 10_000_000
    fetch_deadline_seconds: Annotated[float, Field(gt=0, le=3_600)] = 30.0

    email_backend: EmailBackend = "file"
    email_from: str = "Newsletter <newsletter@localhost>"
    smtp_host: str = "localhost"
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_connections: Annotated[int, Field(ge=1, le=100)] = 4
    api_key: SecretStr | None = None
    api_base_url: AnyHttpUrl | None = None
    mailgun_domain: str | None = None
    send_rate: Annotated[float, Field(ge=0)] = 0
    sender_timeout_seconds: Annotated[float, Field(ge=0.2, le=3_600)] = 15
    hard_bounce_limit: Annotated[int, Field(ge=1, le=100)] = 2
    postmark_webhook_user: str | None = None
    postmark_webhook_password: SecretStr | None = None
    sendgrid_webhook_public_key: str | None = None
    mailgun_webhook_signing_key: SecretStr | None = None
    resend_webhook_secret: SecretStr | None = None
    unsubscribe_mailbox: str | None = None

    digest_subject: str = "{site}: {count} new posts, {dates}"
    # Hours a post stays eligible for each digest (for `each`: for its own email, counted
    # from when it became news); a frequency left out keeps its default (Cadence.window_hours).
    digest_windows: dict[Frequency, Annotated[float, Field(gt=0)]] = Field(
        default_factory=default_windows
    )
    click_counting: bool = True
    postal_address: str | None = None
    reply_to: str | None = None
    dkim_key_file: Path | None = None
    dkim_selector: str | None = None
    dkim_domain: str | None = None
    dkim_ed25519_key_file: Path | None = None
    dkim_ed25519_selector: str | None = None

    digest_schedule: str = "0 8 * * mon"
    timezone: str = "Europe/London"
    secret_key: SecretStr | None = None
    admin_username: str | None = None
    admin_password: SecretStr | None = None
    api_token: SecretStr | None = None
    poll_minutes: Annotated[int, Field(ge=1, le=1440)] = 15
    freshness_days: Annotated[int, Field(ge=0, le=36_500)] = 30
    broker_url: str | None = None
    worker_queue: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,100}$")] = "newsletter"
    forwarded_allow_ips: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Europe/London)"
            ) from None
        return value

    @field_validator("digest_schedule")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        from pipeline.scheduling.crontab import crontab_fields

        try:
            CronTrigger(**crontab_fields(value), timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"not a crontab expression ({exc})") from None
        return value

    @field_validator("secret_key")
    @classmethod
    def _strong_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        keys = [key.strip() for key in value.get_secret_value().split(",")]
        if not all(len(key) >= MIN_KEY_LENGTH for key in keys):
            raise ValueError(f"each comma-separated key needs at least {MIN_KEY_LENGTH} characters")
        return value

    @field_validator("broker_url")
    @classmethod
    def _known_broker(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        scheme = value.partition("://")[0].lower()
        if scheme not in BROKER_SCHEMES:
            raise ValueError("use a redis://, rediss://, amqp:// or amqps:// URL")
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "*":
            return value
        for item in value.split(","):
            try:
                ipaddress.ip_network(item.strip())
            except ValueError:
                raise ValueError(
                    f"{item.strip()!r} is not an IP address or network (use e.g. "
                    "127.0.0.1,10.0.0.0/8, or * for any)"
                ) from None
        return value

    @field_validator("admin_password")
    @classmethod
    def _real_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < MIN_ADMIN_PASSWORD_LENGTH:
            raise ValueError(
                f"needs at least {MIN_ADMIN_PASSWORD_LENGTH} characters besides spaces"
            )
        return value

    @field_validator("unsubscribe_mailbox")
    @classmethod
    def _bare_address(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        local, _, domain = value.strip().partition("@")
        if not (local and "." in domain and value.strip().isascii()) or any(
            char.isspace() or char in "<>,;?" for char in value.strip()
        ):
            raise ValueError(f"{value!r} is not a bare address like 'unsubscribe@mg.example.org'")
        return value.strip()

    @field_validator("email_from")
    @classmethod
    def _one_address(cls, value: str) -> str:
        _, address = parseaddr(value)
        local, _, domain = address.rpartition("@")
        if (
            any(char in value for char in "\r\n")
            or not local
            or not domain
            or any(char.isspace() for char in address)
        ):
            raise ValueError(f"{value!r} is not an address like 'Name <news@example.org>'")
        return value

    @field_validator("digest_subject")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        try:
            value.format(site="s", count=1, first_title="t", dates="d")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"unknown placeholder {exc} (use {{site}}, {{count}}, {{first_title}}, {{dates}})"
            ) from None
        return value

    @field_validator("digest_windows")
    @classmethod
    def _every_frequency(cls, value: dict[Frequency, float]) -> dict[Frequency, float]:
        return default_windows() | value

    @model_validator(mode="after")
    def _dkim_complete(self) -> Settings:
        parts = (self.dkim_key_file, self.dkim_selector, self.dkim_domain)
        if any(parts) and not all(parts):
            raise ValueError(
                "DKIM needs all of NEWSLETTER_DKIM_KEY_FILE, NEWSLETTER_DKIM_SELECTOR "
                "and NEWSLETTER_DKIM_DOMAIN"
            )
        extra = (self.dkim_ed25519_key_file, self.dkim_ed25519_selector)
        if any(extra) and not (all(extra) and all(parts)):
            raise ValueError(
                "an Ed25519 DKIM signature needs NEWSLETTER_DKIM_ED25519_KEY_FILE and "
                "NEWSLETTER_DKIM_ED25519_SELECTOR, beside the RSA one's NEWSLETTER_DKIM_*"
            )
        return self

    @model_validator(mode="after")
    def _webhooks_usable(self) -> Settings:
        from pipeline.delivery.providers import configured_hooks

        configured_hooks(self)
        return self

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value and not value.startswith(("sqlite://", "postgresql")):
            raise ValueError("use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
        return value

    @field_validator("sources")
    @classmethod
    def _unique_source_names(cls, value: list[SourceConfig]) -> list[SourceConfig]:
        names = [source.name for source in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique: {', '.join(duplicates)}")
        return value

    @property
    def effective_database_url(self) -> str:
        """DATABASE_URL, or the SQLite file in DATA_DIR."""
        return self.database_url or f"sqlite:///{self.data_dir / 'newsletter.db'}"

    @property
    def effective_feeds_dir(self) -> Path:
        """FEEDS_DIR, or `public/` in DATA_DIR."""
        return self.feeds_dir or self.data_dir / "public"

    @property
    def zone(self) -> ZoneInfo:
        """TIMEZONE as a tzinfo, for showing times the way the editors read them."""
        return ZoneInfo(self.timezone)

    @property
    def base_url(self) -> str:
        """SITE_URL without its trailing slash, ready to have paths appended."""
        return str(self.site_url).rstrip("/")

    def masked(self) -> dict[str, Any]:
        """Every setting by its variable name, secrets shown as `********`, and so are the
        passwords inside URLs (DATABASE_URL, BROKER_URL, SOURCES)."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = MASK
            plain = json.loads(json.dumps(value, default=_plain))
            shown[ENV_PREFIX + name.upper()] = redacted_values(plain)
        return shown


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    return str(value)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, or `SettingsProblem` with one line per bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsProblem("; ".join(_describe(error) for error in exc.errors())) from None
    except SettingsError as exc:
        raise SettingsProblem(_describe_settings_error(exc)) from None


def _describe(error: Any) -> str:
    location = [str(part) for part in error["loc"]]
    message = str(error["msg"]).removeprefix("Value error, ")
    if not location:  # a rule across several settings names them itself
        return message
    variable = ENV_PREFIX + location[0].upper()
    detail = " ".join(location[1:])
    where = f"{variable} ({detail})" if detail else variable
    return f"{where}: {message}"


def _describe_settings_error(exc: SettingsError) -> str:
    text = str(exc)
    field = text.split('"')[1] if text.count('"') >= 2 else ""
    variable = ENV_PREFIX + field.upper() if field else "settings"
    return f"{variable}: not valid JSON"

"""What a subscriber tells us and chooses: name, how often, time zone, topics."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import get_close_matches
from functools import cache
from typing import Literal, get_args
from zoneinfo import available_timezones

from subscribers.errors import SubscriberError, shown
from subscribers.text import clean_name, clean_text

# How often a subscriber is mailed: the one list of frequencies, read by the settings, the
# CLI options, the API models, the forms and the database's check constraint.
# `each` is one email per new post; the others are digests of what is new.
Frequency = Literal["each", "daily", "weekly", "monthly"]
FREQUENCIES: tuple[Frequency, ...] = get_args(Frequency)
DEFAULT_FREQUENCY: Frequency = "weekly"
FREQUENCY_LABELS: dict[Frequency, str] = {
    "each": "An email for each new post",
    "daily": "Daily digest",
    "weekly": "Weekly digest",
    "monthly": "Monthly digest",
}
TOPIC_MAX = 100
_TOPIC_SEPARATORS = re.compile(r"[;|]")
# Present in the system's zoneinfo folder, but not IANA zones a person lives in.
_NOT_ZONES = frozenset({"localtime", "Factory"})


@dataclass(frozen=True)
class Profile:
    """Cleaned values; None means "leave as it is" (or the default, for a new subscriber)."""

    name: str | None = None
    frequency: str | None = None
    timezone: str | None = None
    topics: list[str] | None = None

    @classmethod
    def clean(
        cls,
        *,
        name: str | None = None,
        frequency: str | None = None,
        timezone: str | None = None,
        topics: str | Iterable[str] | None = None,
    ) -> Profile:
        """Check and clean what a form, a file or an admin gave; SubscriberError if wrong."""
        return cls(
            name=None if name is None else clean_name(name),
            frequency=None if frequency is None else check_frequency(frequency),
            timezone=None if timezone is None else check_timezone(timezone),
            topics=None if topics is None else clean_topics(topics),
        )


def check_frequency(raw: str) -> str:
    """One of FREQUENCIES, whatever the case and surrounding spaces."""
    frequency = raw.strip().lower()
    if frequency not in FREQUENCIES:
        raise SubscriberError(f"unknown frequency {shown(raw)}")
    return frequency


def check_timezone(raw: str) -> str:
    """The IANA name as the zone database spells it ('europe/london' gives 'Europe/London')."""
    zone = _zones().get(raw.strip().lower())
    if zone is None:
        raise SubscriberError(f"bad time zone {shown(raw)}")
    return zone


def clean_topics(raw: str | Iterable[str]) -> list[str]:
    """Tag names without blanks or repeats (case-insensitively), split on ; or |: no topic
    contains a separator, so a CSV export splits back into the same list."""
    joined = raw if isinstance(raw, str) else ";".join(raw)
    topics: dict[str, str] = {}
    for part in _TOPIC_SEPARATORS.split(joined):
        topic = clean_text(part, TOPIC_MAX)
        if topic:
            topics.setdefault(topic.casefold(), topic)
    return list(topics.values())


def suggest_timezones(raw: str, limit: int = 3) -> list[str]:
    """Zones close to a mistyped one: 'europe/pari' -> Europe/Paris, 'new york' ->
    America/New_York, 'Tokio' -> Asia/Tokyo (the city alone is enough)."""
    typed = "_".join(raw.strip().lower().split())
    zones = _zones()
    cities: dict[str, list[str]] = {}
    for key, zone in zones.items():
        cities.setdefault(key.rsplit("/", 1)[-1], []).append(zone)
    found = [zones[key] for key in get_close_matches(typed, zones, n=limit, cutoff=0.75)]
    for city in get_close_matches(typed.rsplit("/", 1)[-1], cities, n=limit, cutoff=0.75):
        found += cities[city]
    return list(dict.fromkeys(found))[:limit]


@cache
def timezone_names() -> tuple[str, ...]:
    """Every zone the store accepts, sorted: what a form offers to choose from."""
    return tuple(sorted(_zones().values()))


@cache
def _zones() -> dict[str, str]:
    return {zone.lower(): zone for zone in available_timezones() - _NOT_ZONES}

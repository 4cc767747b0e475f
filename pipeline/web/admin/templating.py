"""The admin's Jinja2 environment: the site's page templates plus filters for dates,
numbers and JSON values, so the templates under `templates/admin/` stay logic-free."""

from __future__ import annotations

import json
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates

from pipeline.settings import Settings
from pipeline.web.pages import page_templates
from subscribers import FREQUENCIES
from subscribers.profile import DEFAULT_FREQUENCY, FREQUENCY_LABELS


def admin_templates(settings: Settings) -> Jinja2Templates:
    templates = page_templates(settings)
    templates.env.filters.update(
        when=partial(_when, zone=settings.zone),
        number=_number,
        shown=_shown,
    )
    templates.env.globals.update(
        frequencies=FREQUENCIES,
        frequency_labels=FREQUENCY_LABELS,
        default_frequency=DEFAULT_FREQUENCY,
    )
    return templates


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    """`2026-11-23 08:00 GMT`, in the site's time zone; a dash for never."""
    if moment is None:
        return "—"
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}"


def _number(value: int) -> str:
    """`12,345`: big counts read at a glance."""
    return f"{value:,}"


def _shown(value: Any) -> str:
    """A setting's value as text: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

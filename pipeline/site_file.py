"""A content folder may name its site: `site.yml` beside the posts gives the title,
description and language that SITE_TITLE, SITE_DESCRIPTION and LANGUAGE would, for
whichever of them the settings leave at their defaults."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from pipeline.settings import Settings

SITE_FILE = "site.yml"
_FIELDS = {"title": "site_title", "description": "site_description", "language": "language"}
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")  # as LANGUAGE requires


def with_site_file(settings: Settings) -> Settings:
    """`settings`, with what the first directory source's site.yml says filled in where
    no setting was given. A missing or unreadable file changes nothing."""
    folders = [Path(s.path) for s in settings.sources if s.kind == "directory" and s.path]
    if not folders:
        return settings
    try:
        data = yaml.safe_load((folders[0] / SITE_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return settings
    if not isinstance(data, dict):
        return settings
    given = {
        field: " ".join(data[key].split())
        for key, field in _FIELDS.items()
        if isinstance(data.get(key), str) and field not in settings.model_fields_set
    }
    if not _LANGUAGE.fullmatch(given.get("language", "en")):
        del given["language"]
    return settings.model_copy(update={field: text for field, text in given.items() if text})

"""The email API registry and the settings agree, so a half-added provider fails here: each
one is an EMAIL_BACKEND choice, and every variable it names is a setting."""

from __future__ import annotations

from typing import get_args

import pytest

from pipeline.delivery.providers import EMAIL_APIS
from pipeline.settings import ENV_PREFIX, EmailBackend, Settings, load_settings


def test_every_email_api_is_an_email_backend() -> None:
    assert set(get_args(EmailBackend)) == set(EMAIL_APIS) | {"smtp", "file", "console"}


@pytest.mark.parametrize("name", sorted(EMAIL_APIS))
def test_every_variable_an_email_api_names_is_a_setting(name: str) -> None:
    settings = {f"{ENV_PREFIX}{field.upper()}" for field in Settings.model_fields}
    api = EMAIL_APIS[name]
    named = {*api.variables, *api.signing_secrets(load_settings())}
    assert api.variables
    assert named <= settings, named - settings

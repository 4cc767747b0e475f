"""What the admin pages keep per app: cookies, templates, and (in the database's shared web
state) sign-in backoff and one-time form nonces. Runs the admin starts are sent by the app's
one `Senders` (in the web state), which shutdown waits for."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.templating import Jinja2Templates

from pipeline.settings import Settings
from pipeline.storage.webstate import SharedState
from pipeline.web.admin.auth import SessionCookies
from pipeline.web.admin.backoff import Backoff
from pipeline.web.admin.csrf import OneTimeTokens
from pipeline.web.admin.templating import admin_templates


@dataclass(frozen=True)
class AdminState:
    cookies: SessionCookies
    templates: Jinja2Templates
    backoff: Backoff
    nonces: OneTimeTokens

    @classmethod
    def build(cls, settings: Settings, shared: SharedState) -> AdminState:
        return cls(
            SessionCookies(settings, shared),
            admin_templates(settings),
            Backoff(shared),
            OneTimeTokens(shared),
        )

"""What the admin pages keep per app: cookies, templates, and (in the database's shared web
state) sign-in backoff and one-time form nonces. Made on first use, so including the router is
all an app needs to do. Runs are sent by the app's one `Senders` (the API's), so a run is
never drained by two threads of one process, and shutdown waits for every send the admin
started too."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from fastapi.templating import Jinja2Templates
from starlette.applications import Starlette

from pipeline.web.admin.auth import SessionCookies
from pipeline.web.admin.backoff import Backoff
from pipeline.web.admin.csrf import OneTimeTokens
from pipeline.web.admin.templating import admin_templates
from pipeline.web.api.sending import Senders

_creating = threading.Lock()


@dataclass
class AdminState:
    cookies: SessionCookies
    templates: Jinja2Templates
    senders: Senders
    backoff: Backoff
    nonces: OneTimeTokens


def admin_state(app: Starlette) -> AdminState:
    """The admin's state in `app.state.admin`, made from `app.state.settings` once."""
    state = getattr(app.state, "admin", None)
    if state is None:
        with _creating:
            state = getattr(app.state, "admin", None)
            if state is None:
                settings, shared = app.state.settings, app.state.web_state
                state = AdminState(
                    SessionCookies(settings, shared),
                    admin_templates(settings),
                    app.state.api.senders,
                    Backoff(shared),
                    OneTimeTokens(shared),
                )
                app.state.admin = state
    return state

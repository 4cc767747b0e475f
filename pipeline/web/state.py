"""What the web app's routes share, built once by `create_app` and read through `web_state`:
settings, database, stores, keys, templates, the shared (database-backed) web state, the
runs being sent, the clock, and the API's and the admin's own parts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from fastapi.templating import Jinja2Templates
from starlette.applications import Starlette
from starlette.requests import Request

from pipeline.delivery.feedback import Hook
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.storage.webstate import SharedState
from pipeline.web.ratelimit import SlidingWindow
from pipeline.web.sending import Senders
from subscribers import SubscriberStore, TokenSigner

if TYPE_CHECKING:  # both import routes that read this module
    from pipeline.web.admin.state import AdminState
    from pipeline.web.api.context import ApiState


@dataclass(frozen=True)
class WebState:
    settings: Settings
    db: Database
    subscribers: SubscriberStore
    signer: TokenSigner
    click_keys: list[str]
    shared: SharedState  # what every process of the site sees: limits, sessions, nonces
    webhooks: dict[str, Hook]
    signup_limiter: SlidingWindow
    templates: Jinja2Templates  # the public pages'
    senders: Senders  # one per app, so no run is drained by two threads of one process
    clock: Callable[[], datetime]  # "now" for every route, so tests can fix the time
    api: ApiState
    admin: AdminState


def web_state(source: Request | Starlette) -> WebState:
    """The state of the app `source` is (or is a request to)."""
    app = source.app if isinstance(source, Request) else source
    state: WebState = app.state.web
    return state

"""Assembling the FastAPI app from its parts: routes, middleware, templates, database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles

from pipeline.delivery.feedback import configured_hooks
from pipeline.keys import signing_keys
from pipeline.settings import Settings
from pipeline.storage import Database, open_database
from pipeline.storage.webstate import SharedState
from pipeline.web import admin, archive, clicks, health, inbound, pages, subscribe, webhooks
from pipeline.web.api import install_api
from pipeline.web.feeds import feed_routes
from pipeline.web.headers import SecurityHeaders
from pipeline.web.ratelimit import SlidingWindow
from pipeline.web.slashes import redirect_slashes_to_site
from subscribers import FREQUENCIES, SubscriberStore, TokenSigner
from subscribers.profile import DEFAULT_FREQUENCY, FREQUENCY_LABELS
from subscribers.timestamps import utcnow

GZIP_MINIMUM_BYTES = 500
SHUTDOWN_GRACE_SECONDS = 30


def create_app(
    settings: Settings, db: Database | None = None, *, clock: Callable[[], datetime] = utcnow
) -> FastAPI:
    """The public site for `settings`; opens (and on shutdown closes) the database if not
    given. `clock` is the time of the shared web state, webhook signatures included."""
    database = db or open_database(settings.effective_database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.api.senders.join(SHUTDOWN_GRACE_SECONDS)  # let started sends finish
        if db is None:
            database.close()

    # A public site: no OpenAPI pages (they would also need scripts the CSP forbids).
    app = FastAPI(
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
        routes=feed_routes(settings.effective_feeds_dir),
    )
    app.state.settings = settings
    app.state.db = database
    app.state.templates = pages.page_templates(settings)
    app.state.templates.env.globals.update(
        frequencies=FREQUENCIES,
        frequency_labels=FREQUENCY_LABELS,
        default_frequency=DEFAULT_FREQUENCY,
    )
    app.state.subscribers = SubscriberStore(database.sessions, default_timezone=settings.timezone)
    app.state.signer = TokenSigner(signing_keys(settings))
    app.state.click_keys = signing_keys(settings)
    app.state.web_state = SharedState(database, clock=clock)
    app.state.webhooks = configured_hooks(settings)
    app.state.signup_limiter = SlidingWindow(
        app.state.web_state, "signup", subscribe.SIGNUP_LIMIT, subscribe.SIGNUP_WINDOW_SECONDS
    )
    app.include_router(pages.router)
    app.include_router(archive.router)
    app.include_router(subscribe.router)
    app.include_router(webhooks.router)
    app.include_router(inbound.router)
    app.include_router(health.router)
    app.include_router(clicks.router)
    install_api(app)
    app.include_router(admin.router)  # after the API: it shares the API's background senders
    app.mount("/static", StaticFiles(directory=pages.TEMPLATES_DIR / "static"), name="static")
    app.add_exception_handler(404, pages.not_found)
    redirect_slashes_to_site(app)
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES)
    app.add_middleware(SecurityHeaders)
    return app

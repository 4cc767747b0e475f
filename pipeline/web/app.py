"""Assembling the FastAPI app from its parts: routes, middleware, templates, database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles

from pipeline.delivery.providers import configured_hooks
from pipeline.keys import signing_keys
from pipeline.settings import Settings
from pipeline.storage import Database, open_database
from pipeline.storage.webstate import SharedState
from pipeline.web import admin, archive, clicks, health, inbound, pages, subscribe, webhooks
from pipeline.web.admin.state import AdminState
from pipeline.web.api import install_api
from pipeline.web.api.context import ApiState
from pipeline.web.api.idempotency import IdempotencyKeys
from pipeline.web.feeds import feed_routes
from pipeline.web.headers import SecurityHeaders
from pipeline.web.ratelimit import SlidingWindow
from pipeline.web.sending import Senders
from pipeline.web.slashes import redirect_slashes_to_site
from pipeline.web.state import WebState
from subscribers import FREQUENCIES, SubscriberStore, TokenSigner
from subscribers.profile import DEFAULT_FREQUENCY, FREQUENCY_LABELS
from subscribers.timestamps import utcnow

GZIP_MINIMUM_BYTES = 500
SHUTDOWN_GRACE_SECONDS = 30


def create_app(
    settings: Settings, db: Database | None = None, *, clock: Callable[[], datetime] = utcnow
) -> FastAPI:
    """The public site for `settings`; opens (and on shutdown closes) the database if not
    given. `clock` is the time of every route and of the shared web state, webhook
    signatures included."""
    database = db or open_database(settings.effective_database_url)
    senders = Senders()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        senders.join(SHUTDOWN_GRACE_SECONDS)  # let started sends finish
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
    templates = pages.page_templates(settings)
    templates.env.globals.update(
        frequencies=FREQUENCIES,
        frequency_labels=FREQUENCY_LABELS,
        default_frequency=DEFAULT_FREQUENCY,
    )
    shared = SharedState(database, clock=clock)
    app.state.web = WebState(
        settings=settings,
        db=database,
        subscribers=SubscriberStore(database.sessions, default_timezone=settings.timezone),
        signer=TokenSigner(signing_keys(settings)),
        click_keys=signing_keys(settings),
        shared=shared,
        webhooks=configured_hooks(settings),
        signup_limiter=SlidingWindow(
            shared, "signup", subscribe.SIGNUP_LIMIT, subscribe.SIGNUP_WINDOW_SECONDS
        ),
        templates=templates,
        senders=senders,
        clock=clock,
        api=ApiState(IdempotencyKeys(shared)),
        admin=AdminState.build(settings, shared),
    )
    app.include_router(pages.router)
    app.include_router(archive.router)
    app.include_router(subscribe.router)
    app.include_router(webhooks.router)
    app.include_router(inbound.router)
    app.include_router(health.router)
    app.include_router(clicks.router)
    install_api(app)
    app.include_router(admin.router)
    app.mount("/static", StaticFiles(directory=pages.TEMPLATES_DIR / "static"), name="static")
    app.add_exception_handler(404, pages.not_found)
    redirect_slashes_to_site(app)
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES)
    app.add_middleware(SecurityHeaders)
    return app

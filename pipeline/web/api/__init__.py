"""The admin HTTP API under /api: posts, ingest, feeds, subscribers, stats, digest runs.

Every route, including the OpenAPI JSON and the docs page, needs the bearer token
(NEWSLETTER_API_TOKEN); without that setting the API answers 503. `install_api(app)`
mounts it on the web app.
"""

from __future__ import annotations

from typing import NoReturn

from fastapi import APIRouter, FastAPI, Request

from pipeline.web.api import content, deliveries, docs, preview, subscribers
from pipeline.web.api.docs import PREFIX
from pipeline.web.api.errors import ApiError
from pipeline.web.api.models import failures
from pipeline.web.api.routing import ApiRoute

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

router = APIRouter(
    prefix=PREFIX,
    route_class=ApiRoute,
    generate_unique_id_function=lambda route: route.name,  # operationId: the function's name
    responses=failures(
        {
            401: "no or a wrong bearer token",
            422: "bad input",
            503: "the API is off (no API_TOKEN), a setting is wrong, or the database is down",
        }
    ),
)
for part in (content, subscribers, deliveries, preview, docs):
    router.include_router(part.router)


@router.api_route("/{path:path}", methods=ALL_METHODS, include_in_schema=False, response_model=None)
def unknown(request: Request, path: str) -> NoReturn:
    """Anything else under /api: JSON, and only for those with the token."""
    raise ApiError(404, f"no API operation {request.method} {PREFIX}/{path}: see {PREFIX}/docs")


def install_api(app: FastAPI) -> None:
    """Serve /api from `app` (its web state holds the API's own state)."""
    app.include_router(router)


__all__ = ["install_api", "router"]

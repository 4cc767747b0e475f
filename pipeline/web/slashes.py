"""Redirecting `/posts/x/` to `/posts/x` (and `/admin` to `/admin/`) on SITE_URL.

Starlette builds these redirects from the request's Host header, so a request with a
forged Host (through a cache, or a proxy that passes it on) gets a redirect to any site.
Here the target is SITE_URL plus the path: the Host header is never read.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import RedirectResponse
from starlette.routing import Match, get_route_path
from starlette.types import Receive, Scope, Send

from pipeline.web.state import web_state


def redirect_slashes_to_site(app: FastAPI) -> None:
    """Replace the router's own slash redirects with ones to SITE_URL."""
    router = app.router
    router.redirect_slashes = False
    not_found = router.default

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        path = _other_slash(app, scope)
        if path is None:
            await not_found(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        url = web_state(app).settings.base_url + path + (f"?{query}" if query else "")
        await RedirectResponse(url)(scope, receive, send)

    router.default = default


def _other_slash(app: FastAPI, scope: Scope) -> str | None:
    """The path with its trailing slash toggled, if a route answers that one."""
    path = get_route_path(scope)
    if scope["type"] != "http" or path == "/":
        return None
    other = path.rstrip("/") if path.endswith("/") else f"{path}/"
    if any(route.matches({**scope, "path": other})[0] is not Match.NONE for route in app.routes):
        return other
    return None

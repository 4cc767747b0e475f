"""The route class of every /api endpoint: token first, then the endpoint, and the
domain's errors mapped to statuses in this one place instead of in every endpoint.

The token is checked before FastAPI reads the body, so an anonymous request learns
nothing, not even whether its JSON parses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.exc import SQLAlchemyError

from pipeline.settings import SettingsProblem
from pipeline.web.api.auth import check_token
from pipeline.web.api.errors import NO_STORE, ApiError, describe, error_response
from subscribers import KeptOut, SubscriberError

log = logging.getLogger(__name__)
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class ApiRoute(APIRoute):
    """An authenticated /api route whose failures are `{"error": …}` with a fitting status."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                check_token(request)
                response = await handler(request)
            except ApiError as exc:
                return error_response(exc.status, exc.error, exc.headers)
            except RequestValidationError as exc:
                return error_response(422, describe(exc))
            except KeptOut as exc:  # the person left: theirs to undo, not the caller's
                return error_response(409, str(exc))
            except SubscriberError as exc:  # a bad address, a time zone…
                return error_response(422, str(exc))
            except SettingsProblem as exc:  # e.g. EMAIL_BACKEND without its API_KEY
                return error_response(503, str(exc))
            except HTTPException as exc:
                return error_response(exc.status_code, str(exc.detail), exc.headers)
            except SQLAlchemyError:
                log.exception("API request %s %s failed", request.method, request.url.path)
                return error_response(503, "the database did not answer: try again")
            except OSError as exc:  # a full disk, a folder it may not write (FEEDS_DIR…)
                log.exception("API request %s %s failed", request.method, request.url.path)
                return error_response(503, f"the server could not read or write a file: {exc}")
            response.headers.update(NO_STORE)
            return response

        return guarded

"""`/healthz` for load balancers and uptime checks: is the database answering?"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from pipeline.web.state import web_state

log = logging.getLogger(__name__)
router = APIRouter()
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    """{"status": "ok"} when a trivial query succeeds, else 503 so the instance is taken out."""
    try:
        web_state(request).db.ping()
    except SQLAlchemyError as exc:
        log.warning("health check failed: %s", exc)
        return JSONResponse({"status": "error"}, status_code=503, headers=NO_STORE)
    return JSONResponse({"status": "ok"}, headers=NO_STORE)

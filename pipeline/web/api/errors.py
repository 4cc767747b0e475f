"""Every /api answer that is not a success: `{"error": "one line"}`, never a traceback."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

NO_STORE = {"Cache-Control": "no-store"}


class ApiError(Exception):
    """An answer other than success: a status, a one-line reason, maybe headers."""

    def __init__(self, status: int, error: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.headers = status, error, dict(headers or {})


def error_response(
    status: int, error: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """`{"error": …}` on one line; API answers are never cached."""
    line = " ".join(error.split())
    return JSONResponse({"error": line}, status, headers={**NO_STORE, **(headers or {})})


def describe(exc: RequestValidationError) -> str:
    """FastAPI's validation problems as one line: `query limit: Input should be …`."""
    problems = []
    for problem in exc.errors():
        where, *field = [str(part) for part in problem.get("loc", ())] or ["request"]
        # Malformed JSON is located by a character offset, which names no field.
        name = "" if problem.get("type") == "json_invalid" else ".".join(field)
        message = problem.get("msg", "invalid")
        problems.append(f"{where} {name}: {message}" if name else f"{where}: {message}")
    return "; ".join(problems) or "invalid request"

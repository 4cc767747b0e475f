"""Reading what the public forms send: HTML forms (urlencoded or multipart, as RFC 8058
one-click requests may be), and JSON sign-ups. Bodies are read up to a small cap, so a
public endpoint cannot be made to buffer megabytes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import MultiDict
from starlette.requests import Request

from subscribers import SubscriberError

MAX_BODY = 16 * 1024
MAX_FIELDS = 50
HONEYPOT = "website"  # humans never see it (hidden by CSS); bots fill it in


class FormError(Exception):
    """A request body that cannot be read at all; `status` is the HTTP answer (400, 413)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class SignupForm:
    """A sign-up as sent; None means not given. The store checks the values."""

    email: str
    name: str | None = None
    frequency: str | None = None
    timezone: str | None = None
    topics: str | list[str] | None = None
    honeypot: bool = False

    @classmethod
    def from_fields(cls, fields: MultiDict) -> SignupForm:
        """From an HTML form, where a blank field means "not given"."""

        def given(name: str) -> str | None:
            return str(fields.get(name, "")).strip() or None

        return cls(
            email=str(fields.get("email", "")),
            name=given("name"),
            frequency=given("frequency"),
            timezone=given("timezone"),
            honeypot=given(HONEYPOT) is not None,
        )

    @classmethod
    def from_json(cls, data: Any) -> SignupForm:
        """From a JSON object; SubscriberError (a 422) for fields of the wrong type."""
        if not isinstance(data, dict):
            raise SubscriberError("expected a JSON object")
        topics = data.get("topics")
        if not (topics is None or isinstance(topics, str) or _strings(topics)):
            raise SubscriberError("topics: expected a list of strings")
        return cls(
            email=_text(data, "email") or "",
            name=_text(data, "name"),
            frequency=_text(data, "frequency"),
            timezone=_text(data, "timezone"),
            topics=topics,
            honeypot=bool(_text(data, HONEYPOT)),
        )


def is_json(request: Request) -> bool:
    return _media_type(request) == "application/json"


async def read_signup(request: Request) -> SignupForm:
    """The sign-up in a JSON or form body; FormError if unreadable, SubscriberError if a
    JSON field has the wrong type."""
    body = await read_body(request)
    if not is_json(request):
        return SignupForm.from_fields(parse_form(request, body))
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise FormError(400, "not valid JSON") from None
    return SignupForm.from_json(data)


async def read_form(request: Request) -> MultiDict:
    """The fields of a form body; none for a body of another type."""
    return parse_form(request, await read_body(request))


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body, or FormError(413) as soon as it exceeds `limit`, however it is sent: a
    Content-Length over it is refused unread, a chunked body when it passes it."""
    if int(request.headers.get("content-length") or 0) > limit:
        raise FormError(413, "request too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise FormError(413, "request too large")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_form(request: Request, body: bytes) -> MultiDict:
    """Fields of an urlencoded or multipart/form-data body (values as UTF-8 text)."""
    match _media_type(request):
        case "application/x-www-form-urlencoded":
            try:
                pairs = parse_qsl(
                    body.decode("utf-8", errors="replace"),
                    keep_blank_values=True,
                    max_num_fields=MAX_FIELDS,
                )
            except ValueError:
                raise FormError(400, "too many form fields") from None
        case "multipart/form-data":
            pairs = _multipart(request.headers["content-type"], body)
        case _:
            pairs = []
    return MultiDict(pairs)


def _multipart(content_type: str, body: bytes) -> list[tuple[str, str]]:
    """The text fields of a multipart/form-data body, read by the stdlib MIME parser."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", errors="replace")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise FormError(400, "not a multipart body")
    pairs: list[tuple[str, str]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str) and part.get_filename() is None:
            payload = part.get_payload(decode=True)
            text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
            pairs.append((name, text))
        if len(pairs) > MAX_FIELDS:
            raise FormError(400, "too many form fields")
    return pairs


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _text(data: dict[str, Any], field: str) -> str | None:
    value = data.get(field)
    if value is not None and not isinstance(value, str):
        raise SubscriberError(f"{field}: expected a string")
    return value


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)

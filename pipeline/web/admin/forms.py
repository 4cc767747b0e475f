"""Reading the admin's form posts, file uploads (a CSV to import) included.

The public forms' reader (`pipeline.web.forms`) caps bodies at 16 KB and drops files; a
signed-in admin's forms may carry a list of subscribers, up to MAX_BODY (the sign-in form,
open to anyone, keeps the public cap). Multipart bodies are read with the standard library's MIME
parser (no extra dependency for one upload form).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP

from starlette.datastructures import MultiDict
from starlette.requests import Request

from pipeline.web.forms import FormError, parse_form

MAX_BODY = 20 * 1024 * 1024


@dataclass(frozen=True)
class AdminForm:
    """A form's text fields, and its files' contents and names by field name."""

    fields: MultiDict
    files: dict[str, bytes] = field(default_factory=dict)
    file_names: dict[str, str] = field(default_factory=dict)

    def text(self, name: str) -> str:
        """A text field, stripped ("" when absent)."""
        return str(self.fields.get(name, "")).strip()


async def read_admin_form(request: Request, limit: int = MAX_BODY) -> AdminForm:
    """The posted form; FormError(413) beyond `limit` bytes, FormError(400) if unreadable."""
    if int(request.headers.get("content-length") or 0) > limit:
        raise FormError(413, "the upload is too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise FormError(413, "the upload is too large")
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() == "multipart/form-data":
        return _multipart(content_type, bytes(body))
    return AdminForm(parse_form(request, bytes(body)))


def _multipart(content_type: str, body: bytes) -> AdminForm:
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", errors="replace")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise FormError(400, "not a multipart body")
    fields: list[tuple[str, str]] = []
    files: dict[str, bytes] = {}
    file_names: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        if part.get_filename() is None:
            fields.append((name, payload.decode("utf-8", errors="replace")))
        else:
            files[name] = payload
            file_names[name] = str(part.get_filename())
    return AdminForm(MultiDict(fields), files, file_names)

"""The API described: OpenAPI JSON at /api/openapi.json and a page listing the operations
at /api/docs, both behind the token like everything else under /api.

The page is rendered here, from the same OpenAPI document: Swagger UI and ReDoc need
scripts, which the site's Content-Security-Policy forbids and an offline server lacks.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import iter_route_contexts
from jinja2 import Environment

from pipeline.web.api.routing import ApiRoute

PREFIX = "/api"
TITLE = "Newsletter admin API"
DESCRIPTION = (
    "Every operation needs `Authorization: Bearer <NEWSLETTER_API_TOKEN>`. "
    'Errors are `{"error": "one line"}`.'
)
BEARER = {"type": "http", "scheme": "bearer", "description": "NEWSLETTER_API_TOKEN"}
METHODS = ("get", "post", "put", "patch", "delete")

router = APIRouter(route_class=ApiRoute, include_in_schema=False)

_PAGE = Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{ info.title }}</title>
<link rel="stylesheet" href="/static/site.css"></head>
<body><main>
<h1>{{ info.title }} {{ info.version }}</h1>
<p>Every operation needs <code>Authorization: Bearer &lt;NEWSLETTER_API_TOKEN&gt;</code>.
Errors are <code>{"error": "one line"}</code>. The machine-readable description is
<a href="openapi.json">openapi.json</a> (OpenAPI {{ openapi }}).</p>
{% for op in operations %}
<section>
<h2><code>{{ op.method }} {{ op.path }}</code></h2>
<p>{{ op.summary }}</p>
{% if op.description %}<p>{{ op.description }}</p>{% endif %}
{% if op.parameters %}<ul>
{% for p in op.parameters %}
<li><code>{{ p.name }}</code> ({{ p.in }}{{ ", required" if p.required }}): {{ p.type }}
{% if p.description %} — {{ p.description }}{% endif %}</li>
{% endfor %}
</ul>{% endif %}
{% if op.body %}<p>JSON body: <code>{{ op.body }}</code></p>{% endif %}
<p>Answers:
{% for code, text in op.responses %}
<code>{{ code }}</code> {{ text }}{{ ";" if not loop.last }}
{% endfor %}
</p>
</section>
{% endfor %}
</main></body>
</html>
"""
)


def api_openapi(request: Request) -> dict[str, Any]:
    """The OpenAPI document of the routes under /api, as this app mounted them."""
    routes = [
        context
        for context in iter_route_contexts(request.app.routes)
        if (context.path or "").startswith(PREFIX + "/")
    ]
    schema = get_openapi(title=TITLE, version=_version(), description=DESCRIPTION, routes=routes)
    schema.setdefault("components", {})["securitySchemes"] = {"bearer": BEARER}
    schema["security"] = [{"bearer": []}]
    return schema


@router.get("/openapi.json")
def openapi_json(request: Request) -> dict[str, Any]:
    return api_openapi(request)


@router.get("/docs", response_class=HTMLResponse)
def docs_page(request: Request) -> HTMLResponse:
    schema = api_openapi(request)
    operations = [
        _operation(path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]
    page = _PAGE.render(info=schema["info"], openapi=schema["openapi"], operations=operations)
    return HTMLResponse(page)


def _operation(path: str, method: str, operation: dict[str, Any]) -> dict[str, Any]:
    """What the page shows of one operation."""
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    return {
        "method": method.upper(),
        "path": path,
        "summary": operation.get("summary", ""),
        "description": operation.get("description", ""),
        "parameters": [
            {
                "name": parameter["name"],
                "in": parameter["in"],
                "required": parameter.get("required", False),
                "type": _type(parameter.get("schema", {})),
                "description": parameter.get("description", ""),
            }
            for parameter in operation.get("parameters", [])
        ],
        "body": _type(body["schema"]) if body else None,
        "responses": [
            (code, answer.get("description", "")) for code, answer in operation["responses"].items()
        ],
    }


def _type(schema: dict[str, Any]) -> str:
    """A JSON Schema in a few words: `integer`, `one of daily, weekly, monthly`, `Post`."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    if "anyOf" in schema:
        return " or ".join(_type(option) for option in schema["anyOf"])
    return str(schema.get("type", "any"))


def _version() -> str:
    try:
        return version("newsletter-pipeline")
    except PackageNotFoundError:
        return "0"

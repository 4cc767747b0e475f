"""Email templates to HTML and plain text: Jinja2 → MJML → HTML, and the text twin.

Each email in `templates/email/` is a pair, `NAME.mjml.j2` and `NAME.txt.j2`. Jinja2
autoescapes the MJML (post titles and names are untrusted) but not the text. The Jinja2
environment is built once and keeps compiled templates, so a digest run compiles each
template once however many emails it renders.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from mjml import mjml2html

from pipeline.settings import Settings

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates" / "email"

_RIGHT_TO_LEFT = frozenset({"ar", "dv", "fa", "he", "ku", "ps", "sd", "ug", "ur", "yi"})


@dataclass(frozen=True)
class RenderedEmail:
    """The two bodies of one email."""

    html: str
    text: str


def render_email(template: str, /, **context: Any) -> RenderedEmail:
    """Render the `template` pair; the MJML needs `lang`, `dir`, `title` (see
    `site_context`), plus what the template itself uses."""
    environment = _environment()
    mjml = environment.get_template(f"{template}.mjml.j2").render(context)
    text = environment.get_template(f"{template}.txt.j2").render(context)
    # fonts={}: no web-font <link>, which would load from Google as the email is opened.
    return RenderedEmail(html=mjml2html(mjml, disable_comments=True, fonts={}), text=text)


def site_context(settings: Settings, *, title: str) -> dict[str, Any]:
    """What the shared layout needs: the site, its language and the document title."""
    return {
        "title": title,
        "site_title": settings.site_title,
        "base_url": settings.base_url,
        "lang": settings.language,
        "dir": text_direction(settings.language),
    }


def text_direction(language: str) -> str:
    """`rtl` for languages written right to left, so screen readers and layout agree."""
    return "rtl" if language.split("-")[0].lower() in _RIGHT_TO_LEFT else "ltr"


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("mjml.j2",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )

"""Email composition: safe headers, templates rendered to HTML and text, RFC 5322 bytes."""

from pipeline.mail.compose import OutgoingMessage, compose
from pipeline.mail.confirmation import confirmation_message
from pipeline.mail.headers import format_address, safe_header
from pipeline.mail.render import RenderedEmail, render_email, site_context

__all__ = [
    "OutgoingMessage",
    "RenderedEmail",
    "compose",
    "confirmation_message",
    "format_address",
    "render_email",
    "safe_header",
    "site_context",
]

"""Digests: the posts a subscriber has not seen, as one email rendered once per selection
and personalised per recipient by substitution."""

from pipeline.digest.message import digest_recipient, digest_template, message_parts
from pipeline.digest.render import DigestContent, render_digest

__all__ = [
    "DigestContent",
    "digest_recipient",
    "digest_template",
    "message_parts",
    "render_digest",
]

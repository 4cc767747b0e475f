"""A digest as it would go out now: to one subscriber, or to a sample reader."""

from __future__ import annotations

from email.parser import BytesHeaderParser
from email.policy import default
from typing import Any

from fastapi import APIRouter

from pipeline.digest import message_parts
from pipeline.digest.preview import SAMPLE_READER, preview_message, preview_posts
from pipeline.web.api.context import ClockDep, DatabaseDep, SettingsDep, StoreDep
from pipeline.web.api.errors import ApiError
from pipeline.web.api.models import Preview, PreviewRequest, failures
from pipeline.web.api.routing import ApiRoute
from subscribers import Frequency

router = APIRouter(route_class=ApiRoute, tags=["deliveries"])


@router.post(
    "/digests/{frequency}/preview",
    response_model=Preview,
    summary="Preview a digest",
    responses=failures({404: "no subscriber with this address, or no published posts"}),
)
def preview_digest(
    frequency: Frequency,
    db: DatabaseDep,
    settings: SettingsDep,
    store: StoreDep,
    clock: ClockDep,
    wanted: PreviewRequest | None = None,
) -> dict[str, Any]:
    """Subject, HTML and text of the digest `email` would get now (without one, a sample
    reader: the latest posts), exactly as it would be sent. Nothing is sent or recorded."""
    subscriber = None
    if wanted and wanted.email:
        subscriber = store.find(wanted.email)
        if subscriber is None:
            raise ApiError(404, "no subscriber with this address")
    posts = preview_posts(db, subscriber, frequency, clock())
    if not posts:
        raise ApiError(404, "no published posts to preview: ingest first")
    message = preview_message(settings, posts, subscriber)
    html, text = message_parts(message)
    return {
        "frequency": frequency,
        "email": (subscriber or SAMPLE_READER).email,
        "posts": len(posts),
        "subject": BytesHeaderParser(policy=default).parsebytes(message.raw)["Subject"],
        "html": html,
        "text": text,
    }

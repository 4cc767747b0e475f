"""Posts and feeds: list what is published, pull new posts in, rebuild the feeds."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query

from pipeline.feeds import FeedBuildReport, build_feeds
from pipeline.refresh import refresh
from pipeline.storage.posts import post_json, published_posts
from pipeline.web.api.context import DatabaseDep, SettingsDep, StateDep
from pipeline.web.api.errors import ApiError
from pipeline.web.api.models import FeedReport, IngestResult, PostOut, failures
from pipeline.web.api.routing import ApiRoute

router = APIRouter(route_class=ApiRoute, tags=["posts and feeds"])
BUSY = failures({409: "an ingest or feed build is already running"})


@router.get("/posts", response_model=list[PostOut], summary="Published posts, newest first")
def list_posts(
    db: DatabaseDep, settings: SettingsDep, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[dict[str, Any]]:
    return [post_json(post, settings.base_url) for post in published_posts(db, limit=limit)]


@router.post(
    "/ingest", response_model=IngestResult, summary="Pull new and changed posts", responses=BUSY
)
def ingest(
    db: DatabaseDep,
    settings: SettingsDep,
    state: StateDep,
    source: Annotated[
        str | None, Query(max_length=200, description="only this source (its SOURCES name)")
    ] = None,
) -> dict[str, Any]:
    """Read every source (or one), store what is new or changed, rebuild the feeds if a
    post changed: what `newsletter ingest` does. Counts per source."""
    names = [config.name for config in settings.sources]
    if source is not None and source not in names:
        raise ApiError(422, f"unknown source {source!r}: SOURCES has {', '.join(names)}")
    with _one_at_a_time(state.refreshing):
        report = refresh(db, settings, only=source)
    return {
        "sources": [asdict(item) for item in report.sources],
        "feeds": _feeds_json(report.feeds) if report.feeds else None,
        "failed": report.failed,
    }


@router.post("/feeds/build", response_model=FeedReport, summary="Rebuild the feeds", responses=BUSY)
def build(db: DatabaseDep, settings: SettingsDep, state: StateDep) -> dict[str, Any]:
    """Write RSS, Atom and JSON Feed for the site, each tag and each author into FEEDS_DIR;
    feeds whose posts did not change are left alone."""
    with _one_at_a_time(state.refreshing):
        return _feeds_json(build_feeds(db, settings))


@contextmanager
def _one_at_a_time(lock: threading.Lock) -> Iterator[None]:
    """Hold `lock`, or answer 409: a second ingest at once would only race the first."""
    if not lock.acquire(blocking=False):
        raise ApiError(409, "an ingest or feed build is already running: try again shortly")
    try:
        yield
    finally:
        lock.release()


def _feeds_json(report: FeedBuildReport) -> dict[str, Any]:
    return {
        "out_dir": str(report.out_dir),
        "written": report.written,
        "unchanged": report.unchanged,
        "removed": report.removed,
        "hub_error": report.hub_error,
    }

"""Reading posts for feeds: light stamps for every published post, full items on demand."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import case, select

from pipeline.feeds.model import FeedItem, Stamp
from pipeline.storage import Database
from pipeline.storage.models import Post

_CHUNK = 500  # ids per IN (...), under every driver's parameter limit

# When the post last changed, as a feed shows it. Ingest dates a post whose source gives
# no update time with the moment it first saw it; in a feed that moment means nothing
# (and gives a whole first import one shared `updated`), so until the post changes its
# update time is its publication time.
SHOWN_UPDATED = case((Post.updated == Post.first_seen, Post.published), else_=Post.updated).label(
    "updated"
)


def load_stamps(db: Database) -> list[Stamp]:
    """Every published post's stamp, newest first (the order of `published_posts`)."""
    columns = (Post.id, Post.guid, Post.content_hash, SHOWN_UPDATED, Post.tags, Post.authors)
    query = (
        select(*columns)
        .where(Post.status == "published")
        .order_by(Post.published.desc(), Post.id.desc())
    )
    with db.session() as session:
        return [
            Stamp(
                row.id,
                row.guid,
                row.content_hash,
                row.updated,
                tuple(row.tags or ()),
                tuple(row.authors or ()),
            )
            for row in session.execute(query)
        ]


def load_items(db: Database, ids: Collection[int], base_url: str) -> dict[int, FeedItem]:
    """The feed items of the posts `ids`, by post id, read in chunks; the site's own posts
    linked under `base_url`."""
    columns = (
        Post.id,
        Post.guid,
        Post.url,
        Post.slug,
        Post.title,
        Post.summary,
        Post.content_html,
        Post.published,
        SHOWN_UPDATED,
        Post.authors,
        Post.tags,
        Post.image,
        Post.image_alt,
    )
    wanted = sorted(ids)
    items: dict[int, FeedItem] = {}
    with db.session() as session:
        for start in range(0, len(wanted), _CHUNK):
            query = select(*columns).where(Post.id.in_(wanted[start : start + _CHUNK]))
            items.update(
                (row.id, FeedItem.from_row(row, base_url)) for row in session.execute(query)
            )
    return items

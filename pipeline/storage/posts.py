"""Reading posts back: what feeds, digests, pages and `posts list` see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from pipeline.links import post_url
from pipeline.storage.db import Database
from pipeline.storage.models import Post


def published_posts(db: Database, *, limit: int | None = None) -> list[Post]:
    """Published posts, newest first; drafts and removed posts are never among them."""
    query = (
        select(Post)
        .where(Post.status == "published")
        .order_by(Post.published.desc(), Post.id.desc())
        .limit(limit)
    )
    with db.session() as session:
        return list(session.scalars(query))


def site_tags(db: Database) -> list[str]:
    """Every tag of a published post, each once (in any case), sorted: the topics a
    subscriber can choose from, and what an imported tag must match to become one."""
    query = select(Post.tags).where(Post.status == "published")
    with db.session() as session:
        tags = {tag.casefold(): tag for tags in session.scalars(query) for tag in tags}
    return sorted(tags.values(), key=str.casefold)


def post_json(post: Post, base_url: str) -> dict[str, Any]:
    """The post as `posts list --json` prints it (DESIGN.md); own posts linked under
    `base_url` (SITE_URL)."""
    return {
        "id": post.guid,
        "slug": post.slug,
        "title": post.title,
        "authors": list(post.authors),
        "url": post_url(post.url, post.slug, base_url),
        "published": post.published.isoformat(),
        "dated": post.dated,
        "updated": post.updated.isoformat(),
        "tags": list(post.tags),
        "summary": post.summary,
        "source": post.source,
    }

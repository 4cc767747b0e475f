"""Reading posts back: what feeds, digests, pages and `posts list` see."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from pipeline.links import post_url
from pipeline.storage.db import Database
from pipeline.storage.models import Post
from pipeline.text import slugify

NEWEST_FIRST = (Post.published.desc(), Post.id.desc())


def published_posts(db: Database, *, limit: int | None = None, offset: int = 0) -> list[Post]:
    """Published posts, newest first; drafts and removed posts are never among them."""
    query = (
        select(Post)
        .where(Post.status == "published")
        .order_by(*NEWEST_FIRST)
        .offset(offset)
        .limit(limit)
    )
    with db.session() as session:
        return list(session.scalars(query))


def count_published(db: Database) -> int:
    """How many published posts there are (for paging)."""
    query = select(func.count()).select_from(Post).where(Post.status == "published")
    with db.session() as session:
        return session.scalar(query) or 0


def published_post(db: Database, slug: str) -> Post | None:
    """The published post at `slug`; drafts and removed posts are not found."""
    query = select(Post).where(Post.slug == slug, Post.status == "published")
    with db.session() as session:
        return session.scalar(query)


def get_post(db: Database, post_id: int) -> Post | None:
    """Post `post_id` whatever its status; None if there is none."""
    with db.session() as session:
        return session.get(Post, post_id)


def all_posts(db: Database, *, limit: int, offset: int = 0) -> list[Post]:
    """Every post, drafts and removed ones too, newest first: what the admin lists."""
    query = select(Post).order_by(*NEWEST_FIRST).offset(offset).limit(limit)
    with db.session() as session:
        return list(session.scalars(query))


def count_posts(db: Database) -> int:
    """How many posts there are, whatever their status."""
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Post)) or 0


def posts_by_status(db: Database) -> dict[str, int]:
    """How many posts are published, drafts or removed (statuses with none are absent)."""
    query = select(Post.status, func.count()).group_by(Post.status)
    with db.session() as session:
        return {status: number for status, number in session.execute(query)}


def post_titles(db: Database, ids: Iterable[int]) -> dict[int, str]:
    """The titles of posts `ids`, by id."""
    query = select(Post.id, Post.title).where(Post.id.in_(set(ids)))
    with db.session() as session:
        return {post_id: title for post_id, title in session.execute(query)}


@dataclass(frozen=True)
class Group:
    """The published posts under one tag or author slug, newest first; `name` is the
    spelling of the newest post (names that slugify alike share one page and feed)."""

    name: str
    ids: list[int]


def group_of(db: Database, kind: str, slug: str) -> Group | None:
    """The posts whose tags (`kind` "tags") or authors ("authors") include `slug`."""
    column = Post.tags if kind == "tags" else Post.authors
    query = select(Post.id, column).where(Post.status == "published").order_by(*NEWEST_FIRST)
    spellings: list[str] = []
    ids: list[int] = []
    with db.session() as session:
        for post_id, names in session.execute(query):
            found = [name for name in names or () if slugify(name) == slug]
            if found:
                spellings += found
                ids.append(post_id)
    return Group(spellings[0], ids) if ids else None


def posts_by_id(db: Database, ids: list[int]) -> list[Post]:
    """The posts `ids`, in that order."""
    with db.session() as session:
        found = {post.id: post for post in session.scalars(select(Post).where(Post.id.in_(ids)))}
    return [found[post_id] for post_id in ids if post_id in found]


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

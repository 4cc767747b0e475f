"""Posts and source state.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from subscribers.timestamps import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "posts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("guid", sa.String(1024), nullable=False, unique=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("slug", sa.String(200), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("authors", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("content_html", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("published", UTCDateTime(), nullable=False),
        sa.Column("updated", UTCDateTime(), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("removed_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_posts_status_published", "posts", ["status", "published"])
    op.create_index("ix_posts_source", "posts", ["source"])
    op.create_table(
        "source_state",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("last_read", UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("source_state")
    op.drop_index("ix_posts_source", "posts")
    op.drop_index("ix_posts_status_published", "posts")
    op.drop_table("posts")

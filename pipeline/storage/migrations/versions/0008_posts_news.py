"""Posts: when each becomes news, whether its source dated it, its lead image, and own
posts' links stored as paths (made absolute from SITE_URL when rendered).

Revision ID: 0008
Revises: 0009
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from subscribers.timestamps import UTCDateTime

revision = "0008"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("posts") as batch:
        batch.add_column(sa.Column("dated", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("news_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("image", sa.String(2048), nullable=True))
        batch.add_column(sa.Column("image_alt", sa.Text(), nullable=True))
    # Posts stored before keep today's rule: news at their published date.
    op.execute("UPDATE posts SET news_at = published")
    # Own posts (no URL of their own, so a derived GUID) linked to the SITE_URL of the day.
    op.execute(
        "UPDATE posts SET url = '/posts/' || slug"
        " WHERE guid LIKE 'urn:newsletter:%' AND url LIKE '%/posts/' || slug"
    )
    op.create_index("ix_posts_status_news_at", "posts", ["status", "news_at"])


def downgrade() -> None:
    op.drop_index("ix_posts_status_news_at", "posts")
    with op.batch_alter_table("posts") as batch:
        batch.drop_column("image_alt")
        batch.drop_column("image")
        batch.drop_column("news_at")
        batch.drop_column("dated")

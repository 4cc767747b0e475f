"""State the web processes share: signed-out sessions, sign-in failures, rate limits, nonces.

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from subscribers.timestamps import UTCDateTime

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_state",
        sa.Column("scope", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_web_state_expires_at", "web_state", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_web_state_expires_at", table_name="web_state")
    op.drop_table("web_state")

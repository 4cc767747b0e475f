"""Subscribers, their consent records, and suppressed address hashes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from subscribers.timestamps import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("frequency", sa.String(16), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", UTCDateTime(), nullable=True),
        sa.Column("unsubscribed_at", UTCDateTime(), nullable=True),
        sa.Column("confirmation_sent_at", UTCDateTime(), nullable=True),
        sa.Column("bounce_count", sa.Integer(), nullable=False),
        sa.Column("token_nonce", sa.String(32), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'unsubscribed', 'bounced', 'complained')",
            name="ck_subscribers_status",
        ),
        sa.CheckConstraint(
            "frequency IN ('daily', 'weekly', 'monthly')", name="ck_subscribers_frequency"
        ),
    )
    op.create_index("ix_subscribers_status_frequency", "subscribers", ["status", "frequency"])
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "subscriber_id",
            sa.Integer(),
            sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.Column("user_agent", sa.String(500), nullable=True),
        sa.CheckConstraint(
            "action IN ('subscribe', 'confirm', 'unsubscribe', 'preferences')",
            name="ck_consents_action",
        ),
        sa.CheckConstraint(
            "method IN ('form', 'import', 'admin', 'api', 'cli', 'link', 'one-click')",
            name="ck_consents_method",
        ),
    )
    op.create_index("ix_consents_subscriber_id", "consents", ["subscriber_id"])
    op.create_table(
        "suppressions",
        sa.Column("email_hash", sa.String(64), primary_key=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "reason IN ('bounce', 'complaint', 'erased', 'manual')",
            name="ck_suppressions_reason",
        ),
    )


def downgrade() -> None:
    op.drop_table("suppressions")
    op.drop_index("ix_consents_subscriber_id", "consents")
    op.drop_table("consents")
    op.drop_index("ix_subscribers_status_frequency", "subscribers")
    op.drop_table("subscribers")

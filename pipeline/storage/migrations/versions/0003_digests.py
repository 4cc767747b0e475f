"""Digest runs, their post selections, and the outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from subscribers.timestamps import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("frequency", sa.String(16), nullable=False),
        sa.Column("period", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("cutoff", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.UniqueConstraint("frequency", "period", name="uq_digest_runs_period"),
    )
    op.create_table(
        "digest_selections",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("digest_runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("post_ids", sa.JSON(), nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("digest_runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "selection_id",
            sa.Integer(),
            sa.ForeignKey("digest_selections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "subscriber_id",
            sa.Integer(),
            sa.ForeignKey("subscribers.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claim", sa.String(32), nullable=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("message_id", sa.String(255), nullable=True),
        sa.Column("provider_id", sa.String(255), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.UniqueConstraint("run_id", "subscriber_id", name="uq_outbox_recipient"),
    )
    op.create_index("ix_outbox_run_status", "outbox", ["run_id", "status", "id"])
    op.create_index("ix_outbox_claim", "outbox", ["claim"])
    op.create_index("ix_outbox_subscriber_status", "outbox", ["subscriber_id", "status"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("digest_selections")
    op.drop_table("digest_runs")

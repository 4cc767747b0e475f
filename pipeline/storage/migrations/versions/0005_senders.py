"""Live claims: sending processes register and beat a heart; paused runs may be probed.

Revision ID: 0005
Revises: 0008
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from subscribers.timestamps import UTCDateTime

revision = "0005"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "senders",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started", UTCDateTime(), nullable=False),
        sa.Column("heartbeat", UTCDateTime(), nullable=False),
    )
    with op.batch_alter_table("digest_runs") as table:
        table.add_column(sa.Column("resume_at", UTCDateTime(), nullable=True))
        table.add_column(sa.Column("faults", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("digest_runs") as table:
        table.drop_column("faults")
        table.drop_column("resume_at")
    op.drop_table("senders")

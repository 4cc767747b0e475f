"""The mail archive: the public copy of each run's mail, once it went out.

Revision ID: 0011
Revises: 0013
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from subscribers.timestamps import UTCDateTime

revision = "0011"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_archive",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("digest_runs.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("frequency", sa.String(16), nullable=False),
        sa.Column("period", sa.String(32), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("frequency", "period", name="uq_mail_archive_period"),
    )
    op.create_index("ix_mail_archive_published_at", "mail_archive", ["published_at"])


def downgrade() -> None:
    op.drop_index("ix_mail_archive_published_at", "mail_archive")
    op.drop_table("mail_archive")

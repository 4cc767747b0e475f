"""Editorial control and clicks: a run's kind (digest or broadcast), the subject, intro and
topic an editor set for it, and clicks counted per post per run (aggregate rows only).

Revision ID: 0012
Revises: 0005
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("digest_runs") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="digest"))
        batch.add_column(sa.Column("subject", sa.Text(), nullable=True))
        batch.add_column(sa.Column("intro", sa.Text(), nullable=True))
        batch.add_column(sa.Column("topic", sa.String(200), nullable=True))
    op.create_table(
        "click_counts",
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("digest_runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "post_id",
            sa.Integer(),
            sa.ForeignKey("posts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("clicks", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("click_counts")
    with op.batch_alter_table("digest_runs") as batch:
        batch.drop_column("topic")
        batch.drop_column("intro")
        batch.drop_column("subject")
        batch.drop_column("kind")

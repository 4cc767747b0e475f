"""Subscribers may choose `each`: one email per new post.

Revision ID: 0011a
Revises: 0011
Create Date: 2026-11-30
"""

from alembic import op

revision = "0011a"
down_revision = "0011"
branch_labels = None
depends_on = None


def _allow(frequencies: tuple[str, ...]) -> None:
    listed = ", ".join(f"'{frequency}'" for frequency in frequencies)
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_constraint("ck_subscribers_frequency", type_="check")
        batch.create_check_constraint("ck_subscribers_frequency", f"frequency IN ({listed})")


def upgrade() -> None:
    _allow(("each", "daily", "weekly", "monthly"))


def downgrade() -> None:
    op.execute("UPDATE subscribers SET frequency = 'daily' WHERE frequency = 'each'")
    _allow(("daily", "weekly", "monthly"))

"""Bounds on dynamic registration (E4): per-address rate-limit counters, and when a client
was first used (a DCR client never used expires at housekeeping).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(), nullable=False),
    )
    op.add_column("oauth_clients", sa.Column("first_used_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oauth_clients") as batch:
        batch.drop_column("first_used_at")
    op.drop_table("rate_limit_counters")

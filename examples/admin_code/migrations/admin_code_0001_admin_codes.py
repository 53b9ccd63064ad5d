"""admin_codes: the live sign-in code of each user (examples.admin_code)

Its own branch, so the core's history is untouched; it depends on the core's first revision
because admin_codes.user_id references users.id.

Revision ID: admin_code_0001
Revises:
Depends on: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "admin_code_0001"
down_revision = None
branch_labels = ("admin_code",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "admin_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id"),
    )


def downgrade() -> None:
    op.drop_table("admin_codes")

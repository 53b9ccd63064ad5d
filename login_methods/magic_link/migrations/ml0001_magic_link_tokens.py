"""magic-link tokens (the magic_link method's own branch)

Revision ID: ml0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "ml0001"
down_revision = None
branch_labels = ("magic_link",)
depends_on = "0001"  # references users.id


def upgrade() -> None:
    op.create_table(
        "magic_link_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("login_request_id", sa.String(length=128), nullable=False),
        sa.Column("verifier_hash", sa.String(length=64), nullable=False),
        sa.Column("relay_code_hash", sa.String(length=64), nullable=True),
        sa.Column("requested_from", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_magic_link_tokens_user_id", "magic_link_tokens", ["user_id"])
    op.create_index("ix_magic_link_tokens_verifier_hash", "magic_link_tokens", ["verifier_hash"])


def downgrade() -> None:
    op.drop_index("ix_magic_link_tokens_verifier_hash", table_name="magic_link_tokens")
    op.drop_index("ix_magic_link_tokens_user_id", table_name="magic_link_tokens")
    op.drop_table("magic_link_tokens")

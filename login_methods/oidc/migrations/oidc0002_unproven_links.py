"""linked identities that did not prove their email (C22); pending links without an account (C8)

Revision ID: oidc0002
Revises: oidc0001
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "oidc0002"
down_revision = "oidc0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("linked_identities") as batch:
        batch.add_column(
            sa.Column("email_unproven", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Links made before this revision did not record how the address was proven. An account
    # whose address is still unverified can only have been proven by nobody, so its links
    # are the ones a later proof must detach. (Accounts verified since then cannot be told
    # apart: docs/security.md, C22.)
    op.execute(
        "UPDATE linked_identities SET email_unproven = true WHERE user_id IN"
        " (SELECT id FROM users WHERE email_verified = false)"
    )
    with op.batch_alter_table("oidc_pending_links") as batch:
        batch.alter_column("user_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM oidc_pending_links WHERE user_id IS NULL")
    with op.batch_alter_table("oidc_pending_links") as batch:
        batch.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("linked_identities") as batch:
        batch.drop_column("email_unproven")

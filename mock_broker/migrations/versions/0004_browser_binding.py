"""Browser binding of login requests (B12): `browser_hash` and `completion_hash`.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("login_requests") as batch:
        batch.add_column(sa.Column("browser_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("completion_hash", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_login_requests_completion_hash", ["completion_hash"])


def downgrade() -> None:
    with op.batch_alter_table("login_requests") as batch:
        batch.drop_constraint("uq_login_requests_completion_hash", type_="unique")
        batch.drop_column("completion_hash")
        batch.drop_column("browser_hash")

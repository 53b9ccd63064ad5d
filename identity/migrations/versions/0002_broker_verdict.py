"""The broker's verdict on a login request (404 / 409 / 410), remembered so it is not retried.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pending_login_requests") as batch:
        batch.add_column(sa.Column("broker_verdict", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pending_login_requests") as batch:
        batch.drop_column("broker_verdict")

"""Per-client claim overrides (QA): a JSON object merged into the custom claims of every
access token issued to that client, set on the OAuth debugger page.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("oauth_clients", sa.Column("claim_overrides", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oauth_clients") as batch:
        batch.drop_column("claim_overrides")

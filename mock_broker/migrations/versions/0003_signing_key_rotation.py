"""Signing-key rotation: `activated_at` and `retired_at` on signing keys.

Existing keys were signing keys already: the newest becomes the active one and any older
ones retired at the moment the newest was made (as `signing_key` chose before), so pruning
applies to them like to any other retired key.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("signing_keys", sa.Column("activated_at", sa.DateTime(), nullable=True))
    op.add_column("signing_keys", sa.Column("retired_at", sa.DateTime(), nullable=True))
    keys = sa.table(
        "signing_keys",
        sa.column("kid", sa.String),
        sa.column("created_at", sa.DateTime),
        sa.column("activated_at", sa.DateTime),
        sa.column("retired_at", sa.DateTime),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(keys.c.kid, keys.c.created_at).order_by(keys.c.created_at))
    rows = rows.fetchall()
    if not rows:
        return
    newest = rows[-1]
    bind.execute(keys.update().values(activated_at=keys.c.created_at))
    bind.execute(keys.update().where(keys.c.kid != newest.kid).values(retired_at=newest.created_at))


def downgrade() -> None:
    # Before rotation every stored key was published and the newest signed: pending keys,
    # never used, would wrongly start signing, so they are dropped first.
    op.execute("DELETE FROM signing_keys WHERE activated_at IS NULL")
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_column("retired_at")
        batch.drop_column("activated_at")

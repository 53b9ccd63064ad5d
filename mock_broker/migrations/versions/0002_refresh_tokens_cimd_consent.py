"""Refresh tokens, remembered consent, resource-server credentials, CIMD and DCR clients,
richer QA faults, and the claims of each issued token.

`oauth_clients.resource_id` becomes nullable: a CIMD client belongs to no resource. SQLite
cannot alter a column, so Alembic's batch mode copies the table and drops the old one; with
foreign keys enforced that drop fails on a database holding login requests, so enforcement is
switched off for the copy and a foreign-key check afterwards proves every reference whole.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _without_sqlite_foreign_keys(change: Callable[[], None]) -> None:
    """Run a table copy with SQLite's foreign keys off, then check them and switch them on."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        change()
        return
    op.execute("PRAGMA foreign_keys = OFF")
    try:
        change()
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"foreign keys broken by the migration: {broken[:5]}")
    finally:
        op.execute("PRAGMA foreign_keys = ON")


def upgrade() -> None:
    _without_sqlite_foreign_keys(_relax_client_resource)
    _add_columns()
    _create_tables()


def _relax_client_resource() -> None:
    with op.batch_alter_table("oauth_clients") as batch:
        batch.alter_column("resource_id", existing_type=sa.String(length=64), nullable=True)
        batch.add_column(
            sa.Column(
                "registration_method", sa.String(length=16), nullable=False, server_default="cli"
            )
        )
        batch.add_column(
            sa.Column("client_metadata", sa.JSON(), nullable=False, server_default="{}")
        )
        batch.add_column(sa.Column("metadata_fetched_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("metadata_expires_at", sa.DateTime(), nullable=True))


def _add_columns() -> None:
    with op.batch_alter_table("faults") as batch:
        batch.add_column(sa.Column("delay_seconds", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("lifetime_seconds", sa.Integer(), nullable=True))
    with op.batch_alter_table("issued_tokens") as batch:
        batch.add_column(sa.Column("claims", sa.JSON(), nullable=True))


def _create_tables() -> None:
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("authorization_code_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("rotated_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["authorization_code_id"], ["authorization_codes.id"]),
        sa.ForeignKeyConstraint(["parent_id"], ["refresh_tokens.id"]),
        sa.ForeignKeyConstraint(["client_id"], ["oauth_clients.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["broker_users.id"]),
        sa.ForeignKeyConstraint(["resource_id"], ["resources.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(
        "ix_refresh_tokens_authorization_code_id", "refresh_tokens", ["authorization_code_id"]
    )
    op.create_index("ix_refresh_tokens_client_id", "refresh_tokens", ["client_id"])
    op.create_table(
        "consent_grants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["broker_users.id"]),
        sa.ForeignKeyConstraint(["client_id"], ["oauth_clients.id"]),
        sa.ForeignKeyConstraint(["resource_id"], ["resources.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "client_id", "resource_id"),
    )
    op.create_table(
        "resource_server_clients",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["resource_id"], ["resources.id"]),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("resource_server_clients")
    op.drop_table("consent_grants")
    op.drop_index("ix_refresh_tokens_client_id", "refresh_tokens")
    op.drop_index("ix_refresh_tokens_authorization_code_id", "refresh_tokens")
    op.drop_table("refresh_tokens")
    with op.batch_alter_table("issued_tokens") as batch:
        batch.drop_column("claims")
    with op.batch_alter_table("faults") as batch:
        batch.drop_column("lifetime_seconds")
        batch.drop_column("delay_seconds")
    _without_sqlite_foreign_keys(_restore_client_resource)


def _restore_client_resource() -> None:
    # CIMD clients cannot exist without the nullable column; their sign-ins go with them.
    cimd = "SELECT id FROM oauth_clients WHERE resource_id IS NULL"
    op.execute(f"DELETE FROM authorization_codes WHERE client_id IN ({cimd})")  # noqa: S608
    op.execute(f"DELETE FROM login_requests WHERE client_id IN ({cimd})")  # noqa: S608
    op.execute(cimd.replace("SELECT id", "DELETE"))
    with op.batch_alter_table("oauth_clients") as batch:
        batch.drop_column("metadata_expires_at")
        batch.drop_column("metadata_fetched_at")
        batch.drop_column("client_metadata")
        batch.drop_column("registration_method")
        batch.alter_column("resource_id", existing_type=sa.String(length=64), nullable=False)

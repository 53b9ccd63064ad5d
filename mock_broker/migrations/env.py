"""Alembic environment: runs on the connection handed over by mock_broker.database.upgrade()."""

from alembic import context

from mock_broker import models  # noqa: F401 - registers the tables on Base.metadata
from mock_broker.database import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()

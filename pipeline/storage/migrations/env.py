"""Alembic environment: runs on the connection the application hands over."""

from alembic import context

from pipeline.storage.models import Base
from subscribers import Base as SubscribersBase

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=[Base.metadata, SubscribersBase.metadata],
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()

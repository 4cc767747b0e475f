"""Alembic environment: runs on the connection the application hands over."""

from alembic import context

from pipeline.storage.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,  # shared by the pipeline's and the subscribers' tables
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()

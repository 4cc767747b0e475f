"""Alembic environment: runs on the connection the application hands over."""

from alembic import context

from pipeline.storage.models import Base

connection = context.config.attributes["connection"]


def include_name(name: str | None, kind: str, _parents: object) -> bool:
    """Leave APScheduler's job table to APScheduler (it creates and owns it)."""
    return not (kind == "table" and name == "apscheduler_jobs")


context.configure(
    connection=connection,
    include_name=include_name,
    target_metadata=Base.metadata,  # shared by the pipeline's and the subscribers' tables
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()

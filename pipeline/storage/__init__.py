"""Storage: the database engine, the schema and its migrations, and the stores."""

from pipeline.storage.db import Database, open_database

__all__ = ["Database", "open_database"]

"""Alembic environment. Migrations run on a connection the service hands over.

``moderation.storage.database.Database.upgrade`` opens an async connection and
runs ``alembic upgrade head`` inside ``run_sync``, passing the sync connection
in ``config.attributes["connection"]`` (Alembic's connection-sharing recipe).
"""

from __future__ import annotations

from alembic import context

from moderation.storage.tables import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `python service.py db upgrade`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

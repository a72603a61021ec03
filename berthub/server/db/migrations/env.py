"""Alembic's entry point: runs the migrations on the connection `Database.migrate` hands over.

Only online migrations on a given connection are supported: berthub migrates its database itself when
it starts (`berthub serve`, `berthub accounts`); there is no alembic.ini.
"""

from __future__ import annotations

from alembic import context

from berthub.server.db.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("berthub's migrations run through berthub.server.db.engine.Database.migrate, "
                       "which passes the connection; there is no alembic.ini.")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

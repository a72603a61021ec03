"""The hub's database: an engine from a URL, transactions, migrations at start, the change counter.

`Database.open(url)` connects (SQLite under `--root` by default, any SQLAlchemy URL otherwise, e.g.
`postgresql+psycopg://user@host/berthub`) and brings the schema to the newest migration with Alembic
(the migrations ship inside the package, so an installed berthub migrates its own database).
Migrations run under a file lock beside the database, so several workers starting at once migrate
once; replicas on several machines sharing one PostgreSQL need a database-side lock there (issue 26).

`read()` and `write()` hand out connections inside a transaction. On SQLite a write transaction
starts with BEGIN IMMEDIATE: it takes the write lock before its first read, so two processes writing
at once queue (busy timeout) instead of one failing with "database is locked".

`generation()` reads the counter every change to accounts bumps (schema.accounts_state). On SQLite it
goes through one dedicated connection and costs microseconds, so the server may check it on every
request; elsewhere it is one small query through the pool.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import filelock
from sqlalchemy import create_engine, event, inspect, select, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from berthub.errors import ConfigError
from berthub.server.db import schema
from berthub.server.errors import HubError, InsufficientStorage, StorageUnavailable
from berthub.sources.settings import DATABASE_FILE

BUSY_TIMEOUT_S = 30
MIGRATIONS = "berthub.server.db:migrations"  # Alembic's "package:folder" spelling


def default_url(root: str | Path) -> str:
    """The database of a hub with no `--database`: a SQLite file under its root."""
    return f"sqlite:///{Path(root).resolve() / DATABASE_FILE}"


class Database:
    """One engine and what the hub needs of it; safe to share between threads."""

    def __init__(self, engine: Engine, lock_path: Path | None = None) -> None:
        self.engine = engine
        self.sqlite_path = engine.url.database if engine.dialect.name == "sqlite" else None
        self._lock_path = lock_path
        self._counter: sqlite3.Connection | None = None
        self._counter_lock = threading.Lock()

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Database:
        """Connect to `url` and, with `migrate`, upgrade its schema to the newest migration."""
        try:
            engine = create_engine(make_url(url), connect_args=_connect_args(url))
        except (ArgumentError, ImportError) as error:
            raise ConfigError(f"Cannot use database {_safe(url)}: {error}. Give a SQLAlchemy URL such as "
                              "sqlite:///hub.db or postgresql+psycopg://user@host/berthub.") from None
        lock = None
        if engine.dialect.name == "sqlite":
            if not engine.url.database or engine.url.database == ":memory:":
                raise ConfigError(f"Database {url!r}: SQLite needs a file (sqlite:///path/to/hub.db), "
                                  "which every worker process shares.")
            _sqlite_transactions(engine)
            Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
            lock = Path(engine.url.database + ".migrate.lock")
        database = cls(engine, lock)
        if migrate:
            database.migrate()
        return database

    def revision(self) -> str | None:
        """The migration the database is at; None for an empty database."""
        try:
            with self.engine.connect() as connection:
                if not inspect(connection).has_table("alembic_version"):
                    return None
                return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except OperationalError as error:
            raise ConfigError(f"Cannot open database {_safe(str(self.engine.url))}: {error.orig}.") from None

    def migrate(self) -> None:
        """Upgrade to the newest migration (Alembic is imported only when there is one to run)."""
        if self.revision() == schema.HEAD:
            return
        lock = filelock.FileLock(self._lock_path) if self._lock_path else contextlib.nullcontext()
        with lock:
            if self.revision() == schema.HEAD:  # another worker migrated while we waited
                return
            from alembic import command
            from alembic.config import Config

            config = Config()
            config.set_main_option("script_location", MIGRATIONS)
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as connection, connection.begin():
            yield connection

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that changes data; it commits when the block ends without an exception."""
        with self.engine.connect().execution_options(berthub_write=True) as connection, connection.begin():
            yield connection

    def generation(self) -> int:
        """The accounts change counter (schema.accounts_state)."""
        if self.sqlite_path is None:
            with self.read() as connection:
                return int(connection.execute(select(schema.accounts_state.c.generation)).scalar_one())
        with self._counter_lock:
            if self._counter is None:
                # Autocommit (isolation_level=None): every SELECT reads the newest committed value.
                self._counter = sqlite3.connect(self.sqlite_path, check_same_thread=False, isolation_level=None,
                                                timeout=BUSY_TIMEOUT_S)
            return self._counter.execute("SELECT generation FROM accounts_state WHERE id = 1").fetchone()[0]

    @property
    def cheap_generation(self) -> bool:
        """Whether generation() is cheap enough for the event loop (no network round trip)."""
        return self.sqlite_path is not None

    def close(self) -> None:
        with self._counter_lock:
            if self._counter is not None:
                self._counter.close()
                self._counter = None
        self.engine.dispose()


def bump_generation(connection: Connection) -> None:
    """Record, in the caller's transaction, that accounts changed (every server drops its cache)."""
    table = schema.accounts_state
    connection.execute(table.update().where(table.c.id == 1).values(generation=table.c.generation + 1))


def database_error(error: OperationalError, what: str) -> HubError:
    """The answer to a request the database refused: 507 when its disk is full (SQLite's SQLITE_FULL,
    PostgreSQL's disk_full), 503 otherwise (unreachable, locked for longer than the busy timeout)."""
    orig = error.orig
    if getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or getattr(orig, "sqlstate", None) == "53100":
        return InsufficientStorage(f"{what}: the disk of the hub's accounts database is full; nothing was changed. "
                                   "Retry once the operator has freed space.")
    reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0][:200]
    return StorageUnavailable(f"{what}: the hub could not use its accounts database ({reason}); nothing was "
                              "changed. Retry later; if this persists, the operator should check the database.")


def _connect_args(url: str) -> dict:
    return {"timeout": BUSY_TIMEOUT_S} if url.startswith("sqlite") else {}


def _sqlite_transactions(engine: Engine) -> None:
    """pysqlite's own transaction handling defers BEGIN until a write; take it over (SQLAlchemy's recipe)
    so reads begin plainly and writes begin IMMEDIATE, and turn on foreign keys and WAL."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")  # readers never wait for the writer
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("berthub_write")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url)

"""Engine set-up per dialect: what makes SQLite safe for many gunicorn workers."""

import fcntl
import os
import time
from contextlib import contextmanager

from flask import current_app, g, has_request_context, request
from sqlalchemy import BigInteger, event, exc
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def wants_write_lock():
    """A write request (or a CLI command, a task) takes the write lock when it begins.

    SQLite ignores FOR UPDATE. A deferred transaction that reads, then writes, fails
    at once with SQLITE_BUSY when another connection wrote in between; one begun with
    BEGIN IMMEDIATE waits (busy_timeout) for the writer and then sees its commit, so a
    check-then-write can never be overtaken. Reads keep deferred transactions and run
    beside the writer thanks to WAL.
    """
    if not has_request_context():
        return True
    return request.method not in READ_METHODS and not g.get("reading_ahead")


@contextmanager
def read_ahead(session):
    """Run the reads that come before a write request's writes in a transaction of
    their own, on SQLite.

    SQLite has one writer at a time, and a write request's transaction begins with
    BEGIN IMMEDIATE: what it reads first (the token check) would hold the write lock
    through all the request's work, and every other desk would wait that long. Inside
    this block the transaction begins deferred (a reader beside the writer, thanks to
    WAL) and it ends with the block, so the write lock is taken at the first write; what
    the block loaded stays loaded and in the session. On PostgreSQL, in a read request,
    or with a transaction already begun, it changes nothing.
    """
    if (
        session.get_bind().dialect.name != "sqlite"
        or not wants_write_lock()
        or session.in_transaction()
    ):
        yield
        return
    g.reading_ahead = True
    try:
        yield
    finally:
        g.reading_ahead = False
    loaded = list(session.identity_map.values())
    for instance in loaded:
        session.expunge(instance)
    session.rollback()  # it only read; ending it would expire what it loaded
    session.add_all(loaded)


def configure_sqlite(engine, busy_timeout_ms=30_000):
    """WAL, foreign keys, a busy timeout and BEGIN IMMEDIATE for writers.

    The recipe of the SQLAlchemy SQLite dialect docs ("Serializable isolation /
    Savepoints / Transactional DDL"): stop pysqlite from emitting its own BEGIN and
    emit ours.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    queue = WriterQueue.for_database(engine.url.database)

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        if not wants_write_lock():
            connection.exec_driver_sql("BEGIN")
            return
        if queue is not None and has_request_context():
            queue.join(connection.info)
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    if queue is not None:
        # The session gives its connection back when its transaction ends, after the
        # COMMIT or ROLLBACK (the engine's commit event comes before it).
        @event.listens_for(engine.pool, "checkin")
        def _on_checkin(_dbapi_connection, record):
            queue.leave(record.info)

        @event.listens_for(engine.pool, "close")
        def _on_close(_dbapi_connection, record):
            queue.close(record.info)


class WriterQueue:
    """The app's writers to one SQLite file wait their turn in the kernel's queue of an
    OS file lock (flock), then BEGIN IMMEDIATE.

    SQLite's busy handler polls: a writer that finds the write lock taken sleeps 1, 2,
    5, 10 ... up to 100 ms before it looks again, while other writers come and take the
    lock, so under load some wait very long (the benchmark's p99 issue took 0.5-1 s for
    transactions of a few ms). flock wakes the next writer as soon as the lock is
    released. One file descriptor per connection, so threads queue as processes do; a
    process that dies releases its place with it. Only requests queue (one connection
    each, so none can wait on itself); CLI commands, workers and programs outside the
    app meet SQLite's own lock and busy timeout, as before.
    """

    def __init__(self, path):
        self.path = path

    @classmethod
    def for_database(cls, database):
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return cls(f"{database}-writers")

    def join(self, info):
        if "writers_fd" not in info:
            info["writers_fd"] = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(info["writers_fd"], fcntl.LOCK_EX)
        info["writing"] = True

    def leave(self, info):
        if info.pop("writing", False):
            fcntl.flock(info["writers_fd"], fcntl.LOCK_UN)

    def close(self, info):
        self.leave(info)
        fd = info.pop("writers_fd", None)
        if fd is not None:
            os.close(fd)


def configure_postgresql(engine, connect_timeout, ping_after):
    """Give up on a new connection after `connect_timeout` seconds (then: 503), and
    test a pooled connection before use when it has idled `ping_after` seconds.

    libpq waits for ever by default: with the database host unreachable (packets
    dropped, a server that accepts and never answers) every request would hold its
    worker until gunicorn kills it. A `connect_timeout` in the URL's query wins.
    """

    @event.listens_for(engine, "do_connect")
    def _on_do_connect(_dialect, _record, _cargs, cparams):
        if connect_timeout:
            cparams.setdefault("connect_timeout", connect_timeout)

    ping_idle_connections(engine, ping_after)


def ping_idle_connections(engine, ping_after):
    """SQLAlchemy's pessimistic disconnect handling, for connections that idled.

    `pool_pre_ping` costs a round trip at every checkout: on the desk's hot path, a
    quarter of an issue's trips to the server (issue 8). A connection checked in
    moments ago by a busy worker is alive; one that idled may have been closed by a
    restarted server, a proxy or a firewall, and is pinged before use. A failed ping
    raises DisconnectionError, on which the pool discards that connection (and every
    other one of the pool as old) and checks out a fresh one. A connection that dies
    between two busy requests fails its request with 503 (errors.py), and the pool
    is renewed the same way. Not at all with `ping_after` None.
    """
    if ping_after is None:
        return

    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi_connection, record):
        if record is not None:
            record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _on_checkout(dbapi_connection, record, _proxy):
        idle_since = record.info.get("checked_in_at")
        if idle_since is None or time.monotonic() - idle_since < ping_after:
            return  # new, or in use moments ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.DisconnectionError(f"idle connection failed its ping: {error}") from error
        if not alive:
            raise exc.DisconnectionError("idle connection failed its ping")


def configure_engine(engine):
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine)
    elif engine.dialect.name == "postgresql":
        configure_postgresql(
            engine,
            current_app.config.get("DATABASE_CONNECT_TIMEOUT"),
            current_app.config.get("DATABASE_PING_AFTER_SECONDS"),
        )


class epoch_seconds(FunctionElement):  # noqa: N801 - used like a SQL function
    """Whole seconds since 1970 of a UTCDateTime column, as an integer, on each dialect.

    Lets set-wise statements do calendar arithmetic (which overdue period a loan is in)
    in the database; integer seconds keep period boundaries exact.
    """

    type = BigInteger()
    inherit_cache = True


@compiles(epoch_seconds, "postgresql")
def _epoch_postgresql(element, compiler, **kw):
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    # UTCDateTime keeps UTC text on SQLite; strftime('%s') reads it as UTC.
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


# The catalog's search indexes are made by migrations, differently per dialect
# (0005 PostgreSQL: a GIN expression index, SQLite: an FTS5 table kept in step by
# triggers; 0006: the title index, with search_text on SQLite only; 0007 PostgreSQL:
# the titles with search_text, in two partial indexes; 0008 PostgreSQL: the words as a
# generated tsvector column): Alembic's autogenerate must leave these objects, which no
# model describes, alone.
SEARCH_INDEX_OBJECTS = (
    "book_fts",
    "book_word",
    "ix_book_search_tsv",
    "ix_book_title_active",
    "ix_book_title_walk",
    "search_tsv",
)


def include_in_autogenerate(name, _type, _parent_names):
    return not (name or "").startswith(SEARCH_INDEX_OBJECTS)

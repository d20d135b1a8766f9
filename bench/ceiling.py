"""The ceiling: a bare WSGI endpoint doing one comparable write transaction per request.

Served by the same gunicorn settings as the app, on the same database, with the same
driver (psycopg 3 / sqlite3) and the same SQLite settings as `library/database.py`
(WAL, synchronous=NORMAL, busy_timeout 30 s, BEGIN IMMEDIATE for a write). Per request:
read a small JSON body, one conditional UPDATE of a counter row (RETURNING, so the
rowcount decides, as the app's issue does), one INSERT, COMMIT, a small JSON answer.
No framework, no ORM, no auth: what the server, the driver and the database can do.

    BENCH_CEILING_DB=postgresql://...   or   BENCH_CEILING_DB=sqlite:////path/to.db
    gunicorn --workers 4 --bind 127.0.0.1:8001 bench.ceiling:app

The tables (bench_counter, bench_event) are made by `create_tables`.
"""

# ruff: noqa: S608

import json
import os
import sqlite3
from datetime import UTC, datetime

LIMIT = 1_000_000_000

_conn = None


def _url():
    return os.environ["BENCH_CEILING_DB"]


def _connect():
    url = _url()
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=30)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn
    import psycopg

    return psycopg.connect(url)


def _write_sqlite(conn, counter_id, now):
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(
            "UPDATE bench_counter SET n = n + 1 WHERE id = ? AND n < ? RETURNING n",
            (counter_id, LIMIT),
        ).fetchone()
        if row is not None:
            conn.execute(
                "INSERT INTO bench_event (counter_id, n, created_at) VALUES (?, ?, ?)",
                (counter_id, row[0], now.strftime("%Y-%m-%d %H:%M:%S.%f")),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return row


def _write_postgresql(conn, counter_id, now):
    try:
        row = conn.execute(
            "UPDATE bench_counter SET n = n + 1 WHERE id = %s AND n < %s RETURNING n",
            (counter_id, LIMIT),
        ).fetchone()
        if row is not None:
            conn.execute(
                "INSERT INTO bench_event (counter_id, n, created_at) VALUES (%s, %s, %s)",
                (counter_id, row[0], now),
            )
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return row


def _answer(start_response, status, body):
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def write(counter_id):
    """The write transaction; the counter's new value, or None if the UPDATE matched nothing."""
    global _conn
    if _conn is None:
        _conn = _connect()  # one connection per worker process, opened after the fork
    run = _write_sqlite if isinstance(_conn, sqlite3.Connection) else _write_postgresql
    try:
        row = run(_conn, counter_id, datetime.now(UTC))
    except Exception:
        _conn = None  # a broken connection is opened afresh by the next request
        raise
    return None if row is None else row[0]


def close():
    """Close this process's connection (the benchmark calls `write` in process too)."""
    global _conn
    if _conn is not None:
        _conn.close()
        _conn = None


def app(environ, start_response):
    """The bare ceiling: WSGI, no framework."""
    if environ.get("PATH_INFO") == "/healthz":
        return _answer(start_response, "200 OK", {"status": "ok"})
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        counter_id = int(json.loads(environ["wsgi.input"].read(length))["id"])
    except (ValueError, KeyError, TypeError):
        return _answer(start_response, "400 Bad Request", {"code": "bad_request"})
    n = write(counter_id)
    if n is None:
        return _answer(start_response, "409 Conflict", {"code": "limit_reached"})
    return _answer(start_response, "201 Created", {"id": counter_id, "n": n})


def _flask_app():
    """The same write under a plain Flask app (routing, request and JSON handling only):
    what the framework alone costs, for comparison with the bare ceiling."""
    from flask import Flask, request

    flask_app = Flask("ceiling")

    @flask_app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @flask_app.post("/write")
    def write_view():
        body = request.get_json(silent=True) or {}
        try:
            counter_id = int(body["id"])
        except (ValueError, KeyError, TypeError):
            return {"code": "bad_request"}, 400
        n = write(counter_id)
        if n is None:
            return {"code": "limit_reached"}, 409
        return {"id": counter_id, "n": n}, 201

    return flask_app


flask_app = _flask_app()


TABLES = ("bench_counter", "bench_event")


def create_tables(db, rows):
    """bench_counter with `rows` rows at 0, and an empty bench_event, in `db` (data.Database)."""
    if db.kind == "postgresql":
        statements = [
            "DROP TABLE IF EXISTS bench_event",
            "DROP TABLE IF EXISTS bench_counter",
            "CREATE TABLE bench_counter (id bigint PRIMARY KEY, n integer NOT NULL CHECK (n >= 0))",
            "CREATE TABLE bench_event (id bigserial PRIMARY KEY, "
            "counter_id bigint NOT NULL REFERENCES bench_counter (id), n integer NOT NULL, "
            "created_at timestamptz NOT NULL)",
            f"INSERT INTO bench_counter (id, n) SELECT g, 0 FROM generate_series(1, {rows}) g",
        ]
    else:
        statements = [
            "DROP TABLE IF EXISTS bench_event",
            "DROP TABLE IF EXISTS bench_counter",
            "CREATE TABLE bench_counter (id INTEGER PRIMARY KEY, "
            "n INTEGER NOT NULL CHECK (n >= 0))",
            "CREATE TABLE bench_event (id INTEGER PRIMARY KEY, "
            "counter_id INTEGER NOT NULL REFERENCES bench_counter (id), n INTEGER NOT NULL, "
            "created_at DATETIME NOT NULL)",
            "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < "
            f"{rows}) INSERT INTO bench_counter (id, n) SELECT i, 0 FROM g",
        ]
    db.execute(*statements)

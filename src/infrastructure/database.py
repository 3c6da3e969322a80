"""The database: Flask-SQLAlchemy owns the engine (and Flask-Migrate's metadata); the unit of work
gets sessions from a factory bound to that one engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, has_request_context
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from src.adapters.persistence.deadline import QueryDeadline
from src.adapters.persistence.orm import metadata, start_mappers

db = SQLAlchemy(metadata=metadata)


@dataclass(frozen=True)
class DatabaseTimeouts:
    request_seconds: float = 5.0  # the most a web request waits for one database call
    statement_seconds: int = 30  # PostgreSQL ends any statement that runs longer


def init_database(app: Flask, database_url: str, timeouts: DatabaseTimeouts) -> sessionmaker[Session]:
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(database_url, timeouts)
    db.init_app(app)
    start_mappers()
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _tune_sqlite)
    else:
        # Also pings each connection as it leaves the pool, so a connection that died while
        # PostgreSQL restarted is replaced: the service recovers without a restart.
        QueryDeadline(engine, timeouts.request_seconds, applies=has_request_context)
    return sessionmaker(bind=engine, expire_on_commit=False)


def engine_options(database_url: str, timeouts: DatabaseTimeouts) -> dict[str, Any]:
    if database_url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    statement_ms = timeouts.statement_seconds * 1000
    return {
        "pool_size": 5,
        "max_overflow": 10,
        "pool_timeout": 5,  # seconds to wait for a free connection of the pool
        "connect_args": {
            "connect_timeout": 3,  # seconds for a whole connection attempt, authentication included
            # A peer that vanished (host down, network cut) is noticed in under a minute while
            # idle, and within 10 s while data waits to be acknowledged.
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "tcp_user_timeout": 10_000,
            # No JIT: the catalogue's tables are too small ever to be analysed, so short lookups
            # look costly to the planner, and compiling them took 10 ms to save nothing.
            "options": f"-c statement_timeout={statement_ms} -c idle_in_transaction_session_timeout={statement_ms}"
            " -c jit=off",
        },
    }


def _tune_sqlite(connection: Any, _record: Any) -> None:
    # WAL lets the web requests read while the scheduler thread writes a run.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()

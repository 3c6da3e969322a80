"""The database: Flask-SQLAlchemy owns the engine (and Flask-Migrate's metadata); the unit of work
gets sessions from a factory bound to that one engine."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from src.adapters.persistence.orm import metadata, start_mappers

db = SQLAlchemy(metadata=metadata)


def init_database(app: Flask, database_url: str) -> sessionmaker[Session]:
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(database_url)
    db.init_app(app)
    start_mappers()
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _tune_sqlite)
    return sessionmaker(bind=engine, expire_on_commit=False)


def engine_options(database_url: str) -> dict[str, Any]:
    if database_url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    # pre_ping replaces connections that died while PostgreSQL restarted: the service recovers
    # without a restart. The connect timeout keeps a down database from hanging requests.
    return {
        "pool_pre_ping": True,
        "pool_size": 5,
        "max_overflow": 10,
        "pool_timeout": 5,
        "connect_args": {"connect_timeout": 3},
    }


def _tune_sqlite(connection: Any, _record: Any) -> None:
    # WAL lets the web requests read while the scheduler thread writes a run.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()

"""The WSGI entry point: `gunicorn 'app:create_app()'`, `flask --app app ...`."""

from src.infrastructure.app import create_app

__all__ = ["create_app"]

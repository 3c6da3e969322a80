"""Entry point for `celery -A src.celery worker` and `celery -A src.celery beat`."""

from app import create_app

flask_app = create_app()
app = celery = flask_app.extensions["celery"]

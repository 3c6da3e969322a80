# syntax=docker/dockerfile:1
# One image for every role; the command picks it:
#   web (default)  gunicorn 'app:create_app()'
#   worker         celery -A src.celery worker --loglevel=INFO
#   beat           celery -A src.celery beat --loglevel=INFO --schedule /tmp/celerybeat-schedule
#   migrations     flask db upgrade (or MIGRATE=true before any command)

FROM python:3.12-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements/prod.txt /tmp/prod.txt
# Every package is pinned in the lock file; --no-deps keeps anything unpinned out.
RUN /opt/venv/bin/pip install --no-deps -r /tmp/prod.txt

FROM python:3.12-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FLASK_APP=app \
    PORT=5000 \
    GUNICORN_WORKERS=2 \
    GUNICORN_THREADS=4 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
RUN groupadd --system --gid 10001 jounce \
    && useradd --system --uid 10001 --gid jounce --home-dir /app --shell /usr/sbin/nologin jounce
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY --chown=jounce:jounce app.py gunicorn.conf.py ./
COPY --chown=jounce:jounce src ./src
COPY --chown=jounce:jounce migrations ./migrations
COPY --chown=jounce:jounce static ./static
COPY --chown=jounce:jounce deployment/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN mkdir -p /app/instance && chown jounce:jounce /app/instance
USER 10001:10001
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"5000\")}/health/', timeout=4)"]
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["gunicorn", "app:create_app()"]

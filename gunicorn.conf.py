"""gunicorn settings (read from the working folder); flags on the command line override them."""

import os

from prometheus_client import multiprocess

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 60
graceful_timeout = 30
accesslog = None  # the app logs every request itself, as JSON with its request id


def post_worker_init(worker):
    worker.wsgi.warm_up()
    # Said once the app is loaded: a worker still booting takes no connection, so until every
    # worker has said it, the server answers with fewer threads than it has.
    worker.log.info("Worker ready (pid: %s)", worker.pid)


def child_exit(server, worker):
    # A dead worker's live gauges must leave the summed metrics (prometheus multiprocess mode).
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)

"""create_app(): the Flask app for gunicorn, the flask CLI, the Celery worker and the tests."""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask_caching import Cache
from flask_injector import FlaskInjector
from flask_migrate import Migrate
from flask_wtf import CSRFProtect
from injector import Injector
from werkzeug.middleware.proxy_fix import ProxyFix

from src.adapters.web import accounts, benchmarks, contract, health, observability, pages, rankings, runs, security
from src.adapters.web.auth import VerifiedKeys
from src.adapters.web.errors import register_error_handlers
from src.adapters.web.gate import install_gate
from src.adapters.web.limits import RateLimiter
from src.adapters.web.response_cache import DataVersion, ResponseCache
from src.application.use_cases.accounts import AccountUseCases
from src.application.use_cases.rankings import RankingUseCases
from src.infrastructure.celery_app import create_celery
from src.infrastructure.cli import register_commands
from src.infrastructure.container import JounceModule
from src.infrastructure.database import db, init_database
from src.infrastructure.logging import configure_logging
from src.infrastructure.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]


BLUEPRINTS = (
    health.blueprint,
    rankings.blueprint,
    runs.blueprint,
    benchmarks.blueprint,
    contract.blueprint,
    pages.blueprint,
    accounts.blueprint,
    observability.blueprint,
)


class JounceFlask(Flask):
    """Flask, checking each view and hook for `async def` once rather than at every call (eleven
    calls a request: a tenth of the cost of a cached answer)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._synchronous: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if func not in self._synchronous:
            self._synchronous[func] = super().ensure_sync(func)
        return self._synchronous[func]

    def warm_up(self) -> None:
        """Readies a server worker before it takes requests. It compiles every template (the first
        page would pay ~50 ms for them, and a broken one stops the worker at boot, not a user's
        page), then freezes what the worker holds so far out of the garbage collector's reach:
        each full collection rescanned it all, a 70 ms pause every few hundred requests."""
        for name in self.jinja_env.list_templates():
            self.jinja_env.get_template(name)
        gc.collect()
        gc.freeze()


def create_app(environ: Mapping[str, str] | None = None) -> Flask:
    instance_path = PROJECT_ROOT / "instance"
    settings = Settings.from_env(environ, instance_path)
    configure_logging(settings.log_level, settings.log_json)
    app = _flask_app(settings, instance_path)

    session_factory = init_database(app, settings.database_url, settings.database_timeouts)
    Migrate(app, db, directory=str(PROJECT_ROOT / "migrations"))
    # The data version is read through the injector, made below: by then the reader is called.
    version = DataVersion(lambda: injector.get(RankingUseCases).data_version())
    # Near copies only in front of Redis (Flask-Caching's own default is process memory).
    cache = ResponseCache(Cache(app, config=_cache_config(settings)), version, settings.cache_timeout,
                          near_copies=bool(settings.cache_redis_url))  # fmt: skip
    celery = create_celery(app, settings)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    register_commands(app)

    # Flask-Injector wraps the views, so it comes after every blueprint is registered...
    injector = Injector([JounceModule(settings, session_factory, cache, celery)])
    template_globals = dict(app.jinja_env.globals)
    FlaskInjector(app=app, injector=injector)
    # ...and it wraps template globals too, which breaks url_for's keyword arguments.
    app.jinja_env.globals.update(template_globals)
    app.extensions["injector"] = injector
    app.extensions["settings"] = settings
    app.extensions["response_cache"] = cache
    app.extensions["verified_keys"] = VerifiedKeys(lambda key: injector.get(AccountUseCases).authenticate(key))

    # Hooks and handlers come after Flask-Injector, which would wrap each in an injection call
    # (a signature inspection per request): they take nothing from the injector.
    _install_web_extensions(app, settings)
    return app


def _flask_app(settings: Settings, instance_path: Path) -> Flask:
    app = JounceFlask(
        __name__,
        instance_path=str(instance_path),
        static_folder=str(PROJECT_ROOT / "static"),
        template_folder=str(PROJECT_ROOT / "src" / "adapters" / "web" / "templates"),
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.is_production,
        MAX_CONTENT_LENGTH=64 * 1024,  # no form or JSON body here needs more; larger ones get 413
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the documented field order
    instance_path.mkdir(exist_ok=True)
    return app


def _install_web_extensions(app: Flask, settings: Settings) -> None:
    if settings.proxy_hops:
        # Behind an ingress every request comes from the proxy: per-address limits need the client
        # address it forwards (X-Forwarded-For), trusted for this many proxies and no more.
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    observability.install(app)
    accounts.login_manager.init_app(app)
    app.session_interface = accounts.AccountSessions()
    csrf = CSRFProtect(app)
    # The API authenticates with keys, not cookies; the page selector's POST only reads.
    for exempt in (rankings.blueprint, runs.blueprint, benchmarks.blueprint, pages.blueprint):
        csrf.exempt(exempt)
    limiter = RateLimiter(settings.cache_redis_url, settings.cache_key_prefix)
    api = {blueprint.name for blueprint in (rankings.blueprint, runs.blueprint, benchmarks.blueprint)}
    install_gate(
        app, settings.rate_limits, limiter, app.extensions["response_cache"], app.extensions["verified_keys"], api
    )
    register_error_handlers(app)
    security.install(app, settings.is_production)


def _cache_config(settings: Settings) -> dict[str, object]:
    if not settings.cache_redis_url:
        return {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": settings.cache_timeout}
    return {
        "CACHE_TYPE": "RedisCache",
        "CACHE_REDIS_URL": settings.cache_redis_url,
        "CACHE_KEY_PREFIX": settings.cache_key_prefix,
        "CACHE_DEFAULT_TIMEOUT": settings.cache_timeout,
        # Short timeouts: a cache that does not answer at once is treated as down (fail-open).
        "CACHE_OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }

"""The web app factory: the JSON API, the pages, static files and the security middleware on
one store.

``create_app()`` opens the same database the command line uses (``--database-url``, else
INVERSA_DATABASE_URL, else the embedded SQLite file). On start-up a new database gets the schema,
an older one must be upgraded with ``inversa db upgrade`` (exactly as the CLI), and, while no admin
exists, a one-time setup code is printed to the terminal.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from inversa import __version__
from inversa.store import Store, StoreError, current_revision, head_revision, make_engine, upgrade
from inversa.store.db import known_revisions
from inversa.web import accounts, clinician_pages, guided, patient_pages
from inversa.web.api import router as api_router
from inversa.web.auth import SetupCode, WebContext
from inversa.web.config import Settings, load_secret_key
from inversa.web.errors import install_error_handlers
from inversa.web.pages import router as pages_router
from inversa.web.security import BodySizeLimitMiddleware, Passwords, RateLimiter, SecurityHeadersMiddleware

__all__ = ["create_app", "open_store", "prepare_database"]

log = logging.getLogger("inversa.web")
STATIC = Path(__file__).resolve().parent / "static"


def _one_line(exc: Exception) -> StoreError:
    return StoreError(f"cannot open the database: {exc.__class__.__name__}: {exc}".splitlines()[0])


def open_store(database_url: str | None) -> Store:
    """The store on the chosen database (as the CLI resolves it); the schema is checked at start-up."""
    try:
        return Store(make_engine(database_url))
    except Exception as exc:  # driver errors vary: report them in one line
        raise _one_line(exc) from None


def prepare_database(store: Store) -> None:
    """Bring a new database to the schema, refuse an outdated or newer one (as the CLI does), and
    create the web's own tables."""
    try:
        revision = current_revision(store.engine)
    except Exception as exc:
        raise _one_line(exc) from None
    if revision is None:
        upgrade(store.engine)
    elif revision != head_revision():
        if revision not in known_revisions():
            raise StoreError(
                f"the database's schema revision {revision} is newer than this Inversa: upgrade Inversa"
            )
        raise StoreError(f"the database is at schema revision {revision}; run `inversa db upgrade`")
    accounts.create_web_tables(store.engine)


def _announce_setup_code(ctx: WebContext) -> None:
    code = ctx.setup.issue()
    log.warning("no admin account exists: a one-time setup code was issued (see the terminal)")
    ctx.announce(
        "\n"
        "  No admin account exists yet. To create the first one, open /setup and enter this\n"
        f"  one-time setup code: {code}\n"
        "  (or stop the server and run `inversa user create --role admin ...`)\n"
    )


def create_app(
    database_url: str | None = None,
    *,
    store: Store | None = None,
    settings: Settings | None = None,
    secret_key: bytes | None = None,
    announce: Callable[[str], None] | None = None,
) -> FastAPI:
    """Build the app. ``store`` replaces ``database_url``; ``settings`` tunes limits (tests use a
    cheap password hash); ``announce`` receives the setup code text (default: the terminal)."""
    settings = settings or Settings()
    the_store = store or open_store(database_url)
    ctx = WebContext(
        store=the_store,
        settings=settings,
        passwords=Passwords(settings),
        secret=secret_key or load_secret_key(database_url),
        limiter=RateLimiter(settings.login_failures, settings.login_window_s),
        setup=SetupCode(),
    )
    if announce is not None:
        ctx.announce = announce

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(prepare_database, the_store)
        if not await run_in_threadpool(accounts.active_admin_exists, the_store.engine):
            _announce_setup_code(ctx)
        yield
        the_store.engine.dispose()

    app = FastAPI(
        title="Inversa",
        version=__version__,
        summary="Records of inversion-therapy sessions, questionnaires and profiles, with access rules "
        "and an audit log.",
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # the bundled Swagger page needs inline scripts, which the CSP forbids
        redoc_url=None,
    )
    app.state.inversa = ctx
    install_error_handlers(app)
    app.include_router(api_router)
    app.include_router(pages_router)
    app.include_router(patient_pages.router)
    app.include_router(guided.router)
    app.include_router(clinician_pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware, settings=settings)  # outermost: every answer gets them
    return app

"""Entry points for the command line: run the web app (``inversa serve``) and set a password
(``inversa user password``). Both take what the CLI already has: a database URL or a Store."""

from __future__ import annotations

from inversa.store import CLI_ACTOR, Store
from inversa.web import accounts
from inversa.web.config import Settings
from inversa.web.security import Passwords

__all__ = ["serve", "set_password"]


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    database_url: str | None = None,
    *,
    forwarded_allow_ips: str = "127.0.0.1",
    log_level: str = "info",
) -> None:
    """Run the app with uvicorn in one process (rate limits and the setup code live in memory).

    The database is opened and checked first, so a wrong URL or an old schema is one line on
    stderr (StoreError) rather than a traceback. Behind a TLS proxy on this machine, the
    X-Forwarded-Proto/For headers from ``forwarded_allow_ips`` are trusted: cookies become Secure
    and HSTS is sent.
    """
    import uvicorn

    from inversa.web.app import create_app, open_store, prepare_database

    store = open_store(database_url)
    prepare_database(store)
    app = create_app(database_url, store=store)
    uvicorn.run(
        app,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        server_header=False,
        log_level=log_level,
    )


def set_password(store: Store, email: str, password: str, settings: Settings | None = None) -> int:
    """Set an account's password as the local operator (audited), signing it out everywhere;
    returns the account id. Raises ValueError ("password: ...") for a password that is too short,
    and NotFoundError for an unknown email."""
    from inversa.web.app import prepare_database

    passwords = Passwords(settings or Settings())
    problem = passwords.problem(password)
    if problem:
        raise ValueError(f"password: {problem}")
    user = store.user_by_email(email)
    prepare_database(store)  # the web's token table must exist to revoke sign-ins
    accounts.set_password_hash(store.engine, CLI_ACTOR, user.id, passwords.hash(password))
    accounts.revoke_user_tokens(store.engine, user.id)
    return user.id

"""Who is asking: sign-in with rate limiting, browser sessions with CSRF, API bearer tokens, and
the one-time setup code that creates the first admin.

Sign-ins are random tokens stored hashed in the database (table ``web_tokens``), so logging out or
disabling an account takes effect at once, on every device: signed stateless tokens could not be
revoked before they expire. A browser keeps its token in an HttpOnly cookie; the API takes it as
``Authorization: Bearer``. The API also accepts the browser cookie (for pages' own scripts), then
with the CSRF header on every unsafe request.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from inversa.store import Actor, Role, Store
from inversa.store.service import UserInfo
from inversa.web import accounts
from inversa.web.config import Settings
from inversa.web.security import Passwords, RateLimiter, csrf_token, csrf_valid, hash_token, new_token

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "SAFE_METHODS",
    "SESSION_COOKIE",
    "LoginFailedError",
    "Principal",
    "RateLimitedError",
    "SetupCode",
    "WebContext",
    "api_principal",
    "authenticate",
    "client_ip",
    "context",
    "require_role",
    "start_session",
]

log = logging.getLogger("inversa.web")

SESSION_COOKIE = "inversa_session"
CSRF_COOKIE = "inversa_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WEB_LABEL = "web"


class LoginFailedError(Exception):
    """Wrong email or password (the message never says which)."""


class RateLimitedError(Exception):
    """Too many failed sign-ins for this account or address; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins: try again in {retry_after} s")
        self.retry_after = retry_after


class SetupCode:
    """The one-time code that lets the person at the server's terminal create the first admin.

    Only its hash is kept; it is valid until used once (or the process ends), and only while no
    active admin exists.
    """

    def __init__(self) -> None:
        self._hash: str | None = None
        self._lock = threading.Lock()

    @property
    def pending(self) -> bool:
        return self._hash is not None

    def issue(self) -> str:
        code = "-".join(secrets.token_hex(3) for _ in range(4))  # 96 bits, easy to type
        self._hash = hash_token(code)
        return code

    def consume(self, code: str, create: Callable[[], None]) -> bool:
        """Run ``create`` if ``code`` is the pending code, and retire the code; False otherwise."""
        with self._lock:
            if self._hash is None or not hmac.compare_digest(self._hash, hash_token(code.strip())):
                return False
            create()
            self._hash = None
            return True

    def retire(self) -> None:
        self._hash = None


@dataclass
class WebContext:
    """Everything a request handler needs, kept on ``app.state.inversa``."""

    store: Store
    settings: Settings
    passwords: Passwords
    secret: bytes
    limiter: RateLimiter
    setup: SetupCode = field(default_factory=SetupCode)
    announce: Callable[[str], None] = field(default=lambda text: print(text, file=sys.stderr, flush=True))


def context(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.inversa
    return ctx


@dataclass(frozen=True)
class Principal:
    """A signed-in account and how it signed in."""

    user: UserInfo
    token_id: int
    via: Literal["bearer", "cookie"]
    session_binding: str = ""

    @property
    def actor(self) -> Actor:
        return Actor(self.user.id, self.user.role, WEB_LABEL)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def authenticate(ctx: WebContext, email: str, password: str, ip: str) -> UserInfo:
    """Check a password, with at most ``login_failures`` failures per account and per address in
    the window. Unknown accounts, disabled accounts and accounts without a password fail exactly
    like a wrong password, and take as long."""
    account_key, ip_key = f"account:{email.strip().lower()}", f"ip:{ip}"
    wait = ctx.limiter.retry_after(account_key, ip_key)
    if wait:
        raise RateLimitedError(wait)
    found = accounts.credentials(ctx.store.engine, email)
    ok = ctx.passwords.verify(found.password_hash if found else None, password)
    if not ok or found is None or not found.user.active:
        ctx.limiter.fail(account_key, ip_key)
        log.info("failed sign-in for %r from %s", email[:320], ip)
        raise LoginFailedError("wrong email or password")
    ctx.limiter.reset(account_key)
    assert found.password_hash is not None
    if ctx.passwords.needs_rehash(found.password_hash):
        accounts.rehash_password(ctx.store.engine, found.user.id, ctx.passwords.hash(password))
    return found.user


def start_session(ctx: WebContext, user: UserInfo, kind: accounts.TokenKind) -> tuple[str, datetime]:
    """A new sign-in for ``user``: the token (shown once) and its expiry."""
    token = new_token()
    lifetime = (
        timedelta(hours=ctx.settings.session_hours)
        if kind == "session"
        else timedelta(days=ctx.settings.api_token_days)
    )
    return token, accounts.issue_token(ctx.store.engine, user.id, kind, hash_token(token), lifetime)


# --------------------------------------------------------------------------- browser cookies, CSRF
def is_https(request: Request, settings: Settings) -> bool:
    return settings.https_only if settings.https_only is not None else request.url.scheme == "https"


def set_cookie(request: Request, response: Response, settings: Settings, name: str, value: str) -> None:
    """Set a private cookie: HttpOnly, SameSite=Strict, Secure over https, a session cookie."""
    response.set_cookie(
        name, value, httponly=True, samesite="strict", secure=is_https(request, settings), path="/"
    )


def clear_cookie(request: Request, response: Response, settings: Settings, name: str) -> None:
    response.delete_cookie(
        name, httponly=True, samesite="strict", secure=is_https(request, settings), path="/"
    )


def cookie_principal(request: Request) -> Principal | None:
    """The account behind the browser's session cookie, if it is live."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw or len(raw) > 200:
        return None
    digest = hash_token(raw)
    found = accounts.principal_for_token(context(request).store.engine, digest, "session")
    if found is None:
        return None
    user, token_id = found
    return Principal(user, token_id, "cookie", session_binding=digest)


def csrf_nonce(request: Request) -> str | None:
    nonce = request.cookies.get(CSRF_COOKIE)
    return nonce if nonce and len(nonce) <= 100 else None


def expected_csrf(request: Request, principal: Principal | None, nonce: str) -> str:
    binding = principal.session_binding if principal else ""
    return csrf_token(context(request).secret, nonce, binding)


def check_csrf(request: Request, principal: Principal | None, presented: str | None) -> bool:
    binding = principal.session_binding if principal else ""
    return csrf_valid(context(request).secret, csrf_nonce(request), binding, presented)


# ---------------------------------------------------------------------------------------- the API
_bearer = HTTPBearer(
    auto_error=False,
    description="A token from POST /api/v1/auth/token. Browsers may use their session cookie instead "
    "(with the X-CSRF-Token header on unsafe methods).",
)


def _unauthorized(detail: str, error: str | None = None) -> HTTPException:
    challenge = 'Bearer realm="inversa"' + (f', error="{error}"' if error else "")
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": challenge})


def api_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller of an API route: a bearer token, else the session cookie (with CSRF on unsafe
    requests); 401 otherwise. An Authorization header that is present but wrong is never
    overridden by a cookie."""
    ctx = context(request)
    if request.headers.get("authorization"):
        if credentials is None or len(credentials.credentials) > 200:
            raise _unauthorized("malformed Authorization header: use 'Bearer <token>'", "invalid_request")
        found = accounts.principal_for_token(ctx.store.engine, hash_token(credentials.credentials), "api")
        if found is None:
            raise _unauthorized("the token is unknown, expired or revoked", "invalid_token")
        user, token_id = found
        principal = Principal(user, token_id, "bearer")
    else:
        cookie = cookie_principal(request)
        if cookie is None:
            raise _unauthorized("sign in: send 'Authorization: Bearer <token>'")
        if request.method not in SAFE_METHODS and not check_csrf(
            request, cookie, request.headers.get(CSRF_HEADER)
        ):
            raise HTTPException(status_code=403, detail="X-CSRF-Token: missing or wrong")
        principal = cookie
    request.state.principal = principal
    return principal


def require_role(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets only the given roles through (403 for the others)."""
    names = ", ".join(r.value for r in roles)

    def check(principal: Annotated[Principal, Depends(api_principal)]) -> Principal:
        if principal.user.role not in roles:
            raise HTTPException(status_code=403, detail=f"only for: {names}")
        return principal

    return check

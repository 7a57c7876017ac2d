"""Building blocks of web security: password hashing, random tokens, CSRF tokens, the login rate
limiter, and the middleware that adds security headers and caps request bodies."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inversa.web.config import Settings

__all__ = [
    "BodySizeLimitMiddleware",
    "Passwords",
    "RateLimiter",
    "SecurityHeadersMiddleware",
    "csrf_token",
    "csrf_valid",
    "hash_token",
    "new_token",
]


class Passwords:
    """argon2id hashing with the app's cost; a stored hash made with older costs is redone on login."""

    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        self.min_chars = settings.min_password_chars
        # verifying against this when the account is unknown keeps the response time the same
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches ``stored``; a missing or damaged hash never matches."""
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)

    def problem(self, password: str) -> str | None:
        """Why a new password is not acceptable (None when it is)."""
        if len(password) < self.min_chars:
            return f"must be at least {self.min_chars} characters"
        if len(password) > 1024:
            return "must be at most 1024 characters"
        if not password.strip():
            return "must not be blank"
        return None


def new_token() -> str:
    """A random token: 256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """How a token is stored: SHA-256 is enough for 256 random bits (no guessing to slow down)."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(secret: bytes, nonce: str, binding: str) -> str:
    """The CSRF token for a browser: an HMAC of its nonce cookie and its session (empty before
    login), so a token from one browser or one session is useless in another."""
    return hmac.new(secret, f"csrf|{nonce}|{binding}".encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret: bytes, nonce: str | None, binding: str, presented: str | None) -> bool:
    if not nonce or not presented:
        return False
    return hmac.compare_digest(csrf_token(secret, nonce, binding), presented)


class RateLimiter:
    """Failures per key within a sliding window (in memory, one process: `inversa serve` runs one).

    ``retry_after`` says how long a key must wait once it has reached the limit.
    """

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._keys: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float]:
        hits = self._keys.get(key)
        if hits is None:
            return deque()
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if not hits:
            del self._keys[key]
        return hits

    def retry_after(self, *keys: str) -> int:
        """Seconds until every key is below the limit again (0: go ahead)."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                hits = self._prune(key, now)
                if len(hits) >= self.limit:
                    wait = max(wait, hits[len(hits) - self.limit] + self.window_s - now)
        return int(wait) + 1 if wait > 0 else 0

    def fail(self, *keys: str) -> None:
        now = self._clock()
        with self._lock:
            if len(self._keys) > 100_000:  # bound memory under a flood: forget idle keys
                for key in list(self._keys):
                    self._prune(key, now)
            for key in keys:
                self._keys.setdefault(key, deque()).append(now)

    def reset(self, key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)


def content_security_policy(extra: Mapping[str, str]) -> str:
    """Scripts and styles only from our own origin (no inline code), no framing, no plugins."""
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "connect-src": "'self'",
        "font-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    } | dict(extra)
    return "; ".join(f"{k} {v}" for k, v in directives.items())


#: The guided session needs the tilt sensors, Bluetooth (heart-rate strap) and a screen wake lock;
#: nothing else, and none of them for embedded frames of other origins.
PERMISSIONS_POLICY = (
    "accelerometer=(self), gyroscope=(self), magnetometer=(self), bluetooth=(self), "
    "screen-wake-lock=(self), camera=(), microphone=(), geolocation=(), payment=(), usb=()"
)


class SecurityHeadersMiddleware:
    """Adds the security headers to every response; clinical responses are never cached."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.csp = content_security_policy(settings.extra_csp)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = self.settings.https_only
        if https is None:
            https = scope.get("scheme") == "https"
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                extra = {
                    b"content-security-policy": self.csp.encode(),
                    b"x-content-type-options": b"nosniff",
                    b"referrer-policy": b"no-referrer",
                    b"x-frame-options": b"DENY",
                    b"permissions-policy": PERMISSIONS_POLICY.encode(),
                    b"cross-origin-opener-policy": b"same-origin",
                    b"cross-origin-resource-policy": b"same-origin",
                }
                if not static:
                    extra[b"cache-control"] = b"no-store"
                if https:
                    extra[b"strict-transport-security"] = b"max-age=31536000; includeSubDomains"
                headers.extend((k, v) for k, v in extra.items() if k not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimitMiddleware:
    """Refuses request bodies over the limit with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > self.max_bytes:
                    await _too_large(send, self.max_bytes)
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLargeError:
            if not started:
                await _too_large(send, self.max_bytes)


class _BodyTooLargeError(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body = b'{"detail":"request body too large (limit %d bytes)"}' % limit
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})

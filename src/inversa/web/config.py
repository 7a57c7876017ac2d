"""Settings of the web app and its secret key (never in the repository, never a default).

The secret key signs the CSRF tokens. It comes from INVERSA_SECRET_KEY, or is generated once and
kept in a 0600 file beside the SQLite database, so restarts keep sessions' CSRF tokens valid.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from inversa.store.db import database_url, default_database_path

__all__ = ["SECRET_ENV", "SECRET_FILE_NAME", "Settings", "load_secret_key", "secret_key_path"]

SECRET_ENV = "INVERSA_SECRET_KEY"
SECRET_FILE_NAME = "web-secret.key"
MIN_SECRET_CHARS = 32


@dataclass(frozen=True)
class Settings:
    """Tunable limits of the web app; the defaults are the production values."""

    #: lifetime of a browser session (absolute, from login)
    session_hours: float = 12.0
    #: lifetime of an API bearer token (the phone keeps one to upload sessions)
    api_token_days: float = 30.0
    #: failed logins allowed per account and per client address within the window
    login_failures: int = 5
    login_window_s: float = 15 * 60.0
    #: largest request body accepted (a 1 Hz trace of a long session is far smaller)
    max_body_bytes: int = 16 * 1024 * 1024
    #: None: cookies are Secure and HSTS is sent exactly when the request came over https
    https_only: bool | None = None
    #: argon2id cost; lower only in tests
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4
    #: shortest accepted password (NIST SP 800-63B asks for at least 8; we ask for more)
    min_password_chars: int = 10
    extra_csp: dict[str, str] = field(default_factory=dict)


def secret_key_path(url: str | None) -> Path | None:
    """Where the generated key lives: beside the SQLite file, else in the default data folder;
    None for an in-memory database (the key then lives only as long as the process)."""
    resolved = database_url(url)
    if resolved == "sqlite:///:memory:" or resolved in ("sqlite://", "sqlite:"):
        return None
    if resolved.startswith("sqlite:///"):
        return Path(resolved.removeprefix("sqlite:///")).parent / SECRET_FILE_NAME
    return default_database_path().parent / SECRET_FILE_NAME


def load_secret_key(url: str | None) -> bytes:
    """The secret key: INVERSA_SECRET_KEY, else the key file (created 0600 on first use)."""
    from_env = os.environ.get(SECRET_ENV)
    if from_env:
        if len(from_env) < MIN_SECRET_CHARS:
            raise ValueError(f"{SECRET_ENV}: must be at least {MIN_SECRET_CHARS} characters")
        return from_env.encode()
    path = secret_key_path(url)
    if path is None:
        return secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:  # readable by others: tighten it rather than serve with a leaked key
            path.chmod(0o600)
        key = path.read_text(encoding="ascii").strip()
        if len(key) < MIN_SECRET_CHARS:
            raise ValueError(f"{path}: the secret key file is damaged; delete it to make a new one") from None
        return key.encode()
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    return key.encode()

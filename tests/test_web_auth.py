"""Web accounts and access: sign-in and out, CSRF, rate limits, bearer tokens, setup code, headers.

Each test gets its own database (SQLite, and PostgreSQL when configured) and its own app, so the
in-memory rate limiter starts empty. Password hashing uses cheap argon2 costs to stay fast.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from inversa.store import CLI_ACTOR, Role, Store, session_scope
from inversa.store.models import User
from inversa.web import create_app
from inversa.web.config import SECRET_ENV, Settings, load_secret_key
from inversa.web.security import Passwords, RateLimiter
from inversa.web.serve import set_password

FAST = Settings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)
PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


@dataclass
class Env:
    client: TestClient
    store: Store
    announced: list[str]
    db_url: str


def _env(db_url: str, settings: Settings = FAST, base_url: str = "http://testserver") -> Iterator[Env]:
    announced: list[str] = []
    app = create_app(db_url, settings=settings, secret_key=b"s" * 32, announce=announced.append)
    with TestClient(app, base_url=base_url, follow_redirects=False) as client:
        yield Env(client, app.state.inversa.store, announced, db_url)


@pytest.fixture
def env(db_url: str) -> Iterator[Env]:
    yield from _env(db_url)


def make_user(env: Env, role: Role, email: str, password: str | None = PASSWORD) -> int:
    uid = env.store.create_user(CLI_ACTOR, email, email.split("@")[0].title(), role)
    if password is not None:
        set_password(env.store, email, password, FAST)
    return uid


def csrf(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF_INPUT.search(page.text)
    assert match is not None
    return match.group(1)


def page_login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns where it redirected."""
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": csrf(client)})
    assert response.status_code == 303, response.text
    return response.headers["location"]


def api_token(client: TestClient, email: str, password: str = PASSWORD) -> str:
    response = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


# ------------------------------------------------------------------------------------------ headers
def test_security_headers_on_pages_and_api(env: Env) -> None:
    for response in (
        env.client.get("/login"),
        env.client.get("/api/v1/me"),
        env.client.get("/static/app.css"),
    ):
        h = response.headers
        csp = h["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert h["x-content-type-options"] == "nosniff"
        assert h["x-frame-options"] == "DENY"
        assert h["referrer-policy"] == "no-referrer"
        policy = h["permissions-policy"]
        for feature in ("accelerometer", "gyroscope", "bluetooth"):
            assert f"{feature}=(self)" in policy
        assert "camera=()" in policy
        assert "strict-transport-security" not in h  # plain http: HSTS would be ignored anyway
    assert env.client.get("/api/v1/me").headers["cache-control"] == "no-store"


def test_pages_have_no_inline_script_or_style(env: Env) -> None:
    html = env.client.get("/login").text
    assert "<script>" not in html and " style=" not in html and "<style" not in html
    assert 'lang="en"' in html and 'name="viewport"' in html and 'href="#main"' in html


def test_https_adds_hsts_and_secure_cookies(db_url: str) -> None:
    for env in _env(db_url, base_url="https://testserver"):
        make_user(env, Role.PATIENT, "ana@example.org")
        page = env.client.get("/login")
        assert page.headers["strict-transport-security"].startswith("max-age=")
        assert "Secure" in page.headers["set-cookie"]
        token = CSRF_INPUT.search(page.text)
        assert token is not None
        login = env.client.post(
            "/login", data={"email": "ana@example.org", "password": PASSWORD, "csrf_token": token.group(1)}
        )
        session_cookie = next(
            c for c in login.headers.get_list("set-cookie") if c.startswith("inversa_session=")
        )
        assert "Secure" in session_cookie and "HttpOnly" in session_cookie


# -------------------------------------------------------------------------------------- page sign-in
def test_page_login_and_logout(env: Env) -> None:
    make_user(env, Role.PATIENT, "ana@example.org")
    assert env.client.get("/patient").headers["location"].startswith("/login")
    assert page_login(env.client, "ana@example.org") == "/patient"
    cookie = env.client.cookies.get("inversa_session")
    assert cookie
    home = env.client.get("/patient")
    assert home.status_code == 200 and "Hello, Ana" in home.text
    logout = env.client.post("/logout", data={"csrf_token": csrf(env.client, "/patient")})
    assert logout.status_code == 303 and logout.headers["location"] == "/login"
    assert env.client.get("/patient").status_code == 303
    # the old cookie is revoked on the server, not only forgotten by the browser
    env.client.cookies.set("inversa_session", cookie)
    assert env.client.get("/patient").status_code == 303


def test_session_cookie_flags(env: Env) -> None:
    make_user(env, Role.PATIENT, "ana@example.org")
    response = env.client.post(
        "/login", data={"email": "ana@example.org", "password": PASSWORD, "csrf_token": csrf(env.client)}
    )
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("inversa_session="))
    assert "HttpOnly" in session and "samesite=strict" in session.lower() and "Path=/" in session
    assert "Secure" not in session  # http in tests; https gives Secure (see above)
    assert any(c.startswith("inversa_csrf=") for c in cookies)  # a new CSRF nonce after sign-in


def test_wrong_password_on_page(env: Env) -> None:
    make_user(env, Role.PATIENT, "ana@example.org")
    response = env.client.post(
        "/login",
        data={"email": "ana@example.org", "password": "wrong password!", "csrf_token": csrf(env.client)},
    )
    assert response.status_code == 401
    assert "Wrong email or password." in response.text
    assert "inversa_session" not in response.headers.get("set-cookie", "")


def test_login_form_names_missing_field(env: Env) -> None:
    response = env.client.post("/login", data={"email": "", "password": "x", "csrf_token": csrf(env.client)})
    assert response.status_code == 400
    assert 'id="e-email"' in response.text and 'aria-invalid="true"' in response.text


def test_roles_land_on_their_pages(env: Env) -> None:
    make_user(env, Role.CLINICIAN, "dr@example.org")
    assert page_login(env.client, "dr@example.org") == "/clinician"
    assert env.client.get("/clinician").status_code == 200
    assert env.client.get("/patient").status_code == 403
    assert env.client.get("/admin").status_code == 403


def test_login_redirect_stays_on_this_site(env: Env) -> None:
    make_user(env, Role.PATIENT, "ana@example.org")
    for target, expected in (
        ("//evil.example/x", "/patient"),
        ("https://evil.example", "/patient"),
        ("/account/password", "/account/password"),
    ):
        response = env.client.post(
            "/login",
            data={
                "email": "ana@example.org",
                "password": PASSWORD,
                "next": target,
                "csrf_token": csrf(env.client),
            },
        )
        assert response.headers["location"] == expected


# ---------------------------------------------------------------------------------------------- CSRF
def test_page_post_without_csrf_is_403(env: Env) -> None:
    make_user(env, Role.PATIENT, "ana@example.org")
    env.client.get("/login")  # the browser has a CSRF nonce cookie
    response = env.client.post("/login", data={"email": "ana@example.org", "password": PASSWORD})
    assert response.status_code == 403
    page_login(env.client, "ana@example.org")
    assert env.client.post("/logout", data={}).status_code == 403
    assert env.client.post("/logout", data={"csrf_token": "0" * 64}).status_code == 403
    assert env.client.get("/patient").status_code == 200  # still signed in


def test_csrf_token_of_another_browser_is_refused(env: Env) -> None:
    make_user(env, Role.PATIENT, "ana@example.org")
    with TestClient(env.client.app, follow_redirects=False) as other:
        stolen = csrf(other)
    env.client.get("/login")
    response = env.client.post(
        "/login", data={"email": "ana@example.org", "password": PASSWORD, "csrf_token": stolen}
    )
    assert response.status_code == 403


def test_csrf_token_from_before_login_is_void_after(env: Env) -> None:
    make_user(env, Role.PATIENT, "ana@example.org")
    before = csrf(env.client)
    page_login(env.client, "ana@example.org")
    assert env.client.post("/logout", data={"csrf_token": before}).status_code == 403


def test_api_with_session_cookie_needs_csrf_header_to_change(env: Env) -> None:
    pid = make_user(env, Role.PATIENT, "ana@example.org")
    page_login(env.client, "ana@example.org")
    assert env.client.get("/api/v1/me").json()["id"] == pid  # reads with the cookie are fine
    body = {"instrument": "nrs", "answers": [5], "recorded_at": "2026-11-25T08:00:00Z"}
    url = f"/api/v1/patients/{pid}/questionnaires"
    refused = env.client.post(url, json=body)
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
    meta = re.search(r'name="csrf-token" content="([0-9a-f]+)"', env.client.get("/patient").text)
    assert meta is not None
    assert env.client.post(url, json=body, headers={"X-CSRF-Token": meta.group(1)}).status_code == 201


# -------------------------------------------------------------------------------------- rate limits
def test_api_login_rate_limited_per_account(env: Env) -> None:
    make_user(env, Role.PATIENT, "ana@example.org")
    for _ in range(5):
        bad = env.client.post(
            "/api/v1/auth/token", json={"email": "ana@example.org", "password": "nope nope"}
        )
        assert bad.status_code == 401
        assert bad.headers["www-authenticate"].startswith("Bearer")
    limited = env.client.post("/api/v1/auth/token", json={"email": "Ana@Example.org", "password": PASSWORD})
    assert limited.status_code == 429
    assert 0 < int(limited.headers["retry-after"]) <= 15 * 60
    # the same account from another address is still locked: the limit is per account too
    with TestClient(env.client.app, client=("203.0.113.9", 4000)) as elsewhere:
        again = elsewhere.post("/api/v1/auth/token", json={"email": "ana@example.org", "password": PASSWORD})
        assert again.status_code == 429


def test_login_rate_limited_per_address(env: Env) -> None:
    make_user(env, Role.PATIENT, "ana@example.org")
    for i in range(5):  # five different (unknown) accounts from one address
        env.client.post("/api/v1/auth/token", json={"email": f"x{i}@example.org", "password": "guess guess"})
    assert (
        env.client.post(
            "/api/v1/auth/token", json={"email": "ana@example.org", "password": PASSWORD}
        ).status_code
        == 429
    )
    page = env.client.post(
        "/login", data={"email": "ana@example.org", "password": PASSWORD, "csrf_token": csrf(env.client)}
    )
    assert page.status_code == 429 and "retry-after" in page.headers
    with TestClient(env.client.app, client=("198.51.100.7", 4000)) as other:
        assert api_token(other, "ana@example.org")  # another address, a clean account: fine


def test_rate_limiter_window_slides() -> None:
    now = [1000.0]
    limiter = RateLimiter(limit=5, window_s=900, clock=lambda: now[0])
    for _ in range(4):
        limiter.fail("k")
        now[0] += 10
    assert limiter.retry_after("k") == 0
    limiter.fail("k")  # fifth failure at t=1040; the first was at t=1000
    assert limiter.retry_after("k") == 861  # until t=1900 when the first leaves the window (+1 s)
    now[0] = 1900.5
    assert limiter.retry_after("k") == 0
    limiter.reset("k")
    assert limiter.retry_after("k", "other") == 0


# -------------------------------------------------------------------------------------------- bearer
def test_bearer_token_flow(env: Env) -> None:
    pid = make_user(env, Role.PATIENT, "ana@example.org")
    token = api_token(env.client, "ana@example.org")
    auth = {"Authorization": f"Bearer {token}"}
    me = env.client.get("/api/v1/me", headers=auth)
    assert me.status_code == 200
    assert me.json() == {
        "id": pid,
        "email": "ana@example.org",
        "display_name": "Ana",
        "role": "patient",
        "active": True,
    }
    assert env.client.post("/api/v1/auth/logout", headers=auth).status_code == 204
    gone = env.client.get("/api/v1/me", headers=auth)
    assert gone.status_code == 401 and 'error="invalid_token"' in gone.headers["www-authenticate"]


def test_bad_authorization_headers_are_401(env: Env) -> None:
    make_user(env, Role.PATIENT, "ana@example.org")
    for header in ("Bearer nonsense", "Basic YW5hOnB3", "Bearer", "Bearer " + "a" * 500):
        response = env.client.get("/api/v1/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_session_cookie_and_api_token_are_not_interchangeable(env: Env) -> None:
    make_user(env, Role.PATIENT, "ana@example.org")
    token = api_token(env.client, "ana@example.org")
    env.client.cookies.set("inversa_session", token)
    assert env.client.get("/api/v1/me").status_code == 401
    env.client.cookies.clear()
    page_login(env.client, "ana@example.org")
    session = env.client.cookies.get("inversa_session")
    env.client.cookies.clear()
    assert env.client.get("/api/v1/me", headers={"Authorization": f"Bearer {session}"}).status_code == 401


def test_expired_token_is_refused(db_url: str) -> None:
    for env in _env(db_url, settings=replace(FAST, api_token_days=0)):
        make_user(env, Role.PATIENT, "ana@example.org")
        token = api_token(env.client, "ana@example.org")
        assert env.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_tokens_are_stored_hashed(env: Env) -> None:
    make_user(env, Role.PATIENT, "ana@example.org")
    token = api_token(env.client, "ana@example.org")
    from inversa.web.accounts import WebToken

    with session_scope(env.store.engine) as db:
        stored = db.scalars(select(WebToken.token_hash)).all()
    assert stored and token not in stored and all(len(h) == 64 for h in stored)


# ------------------------------------------------------------------------------------------ passwords
def test_no_default_password(env: Env) -> None:
    make_user(env, Role.PATIENT, "ana@example.org", password=None)
    for password in ("", "password", "ana@example.org"):
        response = env.client.post(
            "/api/v1/auth/token", json={"email": "ana@example.org", "password": password}
        )
        assert response.status_code in (401, 422)


def test_passwords_are_argon2_and_rehashed_with_current_cost(env: Env) -> None:
    uid = make_user(env, Role.PATIENT, "ana@example.org", password=None)
    strong = Passwords(replace(FAST, argon2_time_cost=2))
    with session_scope(env.store.engine) as db:
        user = db.get(User, uid)
        assert user is not None
        user.password_hash = strong.hash(PASSWORD)
    api_token(env.client, "ana@example.org")
    with session_scope(env.store.engine) as db:
        stored = db.scalar(select(User.password_hash).where(User.id == uid))
    assert stored is not None and stored.startswith("$argon2id$") and ",t=1," in stored


def test_change_password_revokes_other_sign_ins(env: Env) -> None:
    make_user(env, Role.PATIENT, "ana@example.org")
    phone = {"Authorization": f"Bearer {api_token(env.client, 'ana@example.org')}"}
    laptop = {"Authorization": f"Bearer {api_token(env.client, 'ana@example.org')}"}
    url = "/api/v1/me/password"
    short = env.client.post(url, headers=laptop, json={"current_password": PASSWORD, "new_password": "short"})
    assert short.status_code == 422 and short.json()["detail"][0]["loc"] == ["body", "new_password"]
    wrong = env.client.post(
        url, headers=laptop, json={"current_password": "nope", "new_password": "a new long one"}
    )
    assert wrong.status_code == 403
    ok = env.client.post(
        url, headers=laptop, json={"current_password": PASSWORD, "new_password": "a new long one"}
    )
    assert ok.status_code == 204
    assert env.client.get("/api/v1/me", headers=laptop).status_code == 200
    assert env.client.get("/api/v1/me", headers=phone).status_code == 401
    assert api_token(env.client, "ana@example.org", "a new long one")


def test_password_page_changes_password(env: Env) -> None:
    make_user(env, Role.PATIENT, "ana@example.org")
    page_login(env.client, "ana@example.org")
    token = csrf(env.client, "/account/password")
    mismatch = env.client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "another long one",
            "new_password_confirm": "different",
            "csrf_token": token,
        },
    )
    assert mismatch.status_code == 400 and 'id="e-new_password_confirm"' in mismatch.text
    done = env.client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "another long one",
            "new_password_confirm": "another long one",
            "csrf_token": token,
        },
    )
    assert done.status_code == 200 and "Password changed" in done.text
    assert api_token(env.client, "ana@example.org", "another long one")


def test_set_password_helper_checks_length_and_email(env: Env) -> None:
    make_user(env, Role.PATIENT, "ana@example.org", password=None)
    with pytest.raises(ValueError, match="password:"):
        set_password(env.store, "ana@example.org", "short", FAST)
    from inversa.store import NotFoundError

    with pytest.raises(NotFoundError):
        set_password(env.store, "nobody@example.org", PASSWORD, FAST)


def test_disabled_account_is_signed_out_and_cannot_sign_in(env: Env) -> None:
    make_user(env, Role.ADMIN, "root@example.org")
    pid = make_user(env, Role.PATIENT, "ana@example.org")
    admin = {"Authorization": f"Bearer {api_token(env.client, 'root@example.org')}"}
    patient = {"Authorization": f"Bearer {api_token(env.client, 'ana@example.org')}"}
    off = env.client.patch(f"/api/v1/admin/users/{pid}", headers=admin, json={"active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    assert env.client.get("/api/v1/me", headers=patient).status_code == 401
    assert (
        env.client.post(
            "/api/v1/auth/token", json={"email": "ana@example.org", "password": PASSWORD}
        ).status_code
        == 401
    )
    me = env.client.get("/api/v1/me", headers=admin).json()["id"]
    last = env.client.patch(f"/api/v1/admin/users/{me}", headers=admin, json={"active": False})
    assert last.status_code == 422 and last.json()["detail"][0]["loc"] == ["body", "active"]


# ----------------------------------------------------------------------------------------- setup code
def _setup_code(env: Env) -> str:
    assert len(env.announced) == 1
    match = re.search(r"setup code: (\S+)", env.announced[0])
    assert match is not None
    return match.group(1)


def test_setup_code_creates_first_admin_once(env: Env) -> None:
    code = _setup_code(env)
    form = {
        "email": "root@example.org",
        "display_name": "Root",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    token = csrf(env.client, "/setup")
    wrong = env.client.post("/setup", data=form | {"code": "nope", "csrf_token": token})
    assert wrong.status_code == 400 and "Wrong setup code" in wrong.text
    mismatch = env.client.post(
        "/setup", data=form | {"code": code, "password_confirm": "other", "csrf_token": token}
    )
    assert mismatch.status_code == 400 and 'id="e-password_confirm"' in mismatch.text  # code still valid
    no_csrf = env.client.post("/setup", data=form | {"code": code})
    assert no_csrf.status_code == 403
    made = env.client.post("/setup", data=form | {"code": code, "csrf_token": token})
    assert made.status_code == 303 and made.headers["location"] == "/login?setup=done"
    assert page_login(env.client, "root@example.org") == "/admin"
    assert env.client.get("/setup").status_code == 404
    again = env.client.post(
        "/setup",
        data=form | {"email": "evil@example.org", "code": code, "csrf_token": csrf(env.client, "/admin")},
    )
    assert again.status_code == 404
    assert env.store.user_by_email("root@example.org").role is Role.ADMIN
    with pytest.raises(Exception, match="no user"):
        env.store.user_by_email("evil@example.org")


def test_setup_refuses_short_password(env: Env) -> None:
    code = _setup_code(env)
    response = env.client.post(
        "/setup",
        data={
            "code": code,
            "email": "root@example.org",
            "display_name": "Root",
            "password": "short",
            "password_confirm": "short",
            "csrf_token": csrf(env.client, "/setup"),
        },
    )
    assert response.status_code == 400 and 'id="e-password"' in response.text


def test_setup_closed_when_admin_made_on_command_line(env: Env) -> None:
    code = _setup_code(env)
    make_user(env, Role.ADMIN, "root@example.org")
    assert env.client.get("/setup").status_code == 404
    response = env.client.post(
        "/setup",
        data={
            "code": code,
            "email": "x@example.org",
            "display_name": "X",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "csrf_token": csrf(env.client),
        },
    )
    assert response.status_code == 404


def test_no_setup_code_when_an_admin_exists(db_url: str) -> None:
    for first in _env(db_url):
        make_user(first, Role.ADMIN, "root@example.org")
    for second in _env(db_url):
        assert second.announced == []
        assert second.client.get("/setup").status_code == 404


def test_setup_code_guesses_are_rate_limited(env: Env) -> None:
    token = csrf(env.client, "/setup")
    form = {
        "email": "root@example.org",
        "display_name": "Root",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "csrf_token": token,
    }
    for _ in range(5):
        assert env.client.post("/setup", data=form | {"code": "guess"}).status_code == 400
    assert env.client.post("/setup", data=form | {"code": _setup_code(env)}).status_code == 429


# ------------------------------------------------------------------------------------- the secret key
def test_secret_key_file_is_private_and_stable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    url = f"sqlite:///{tmp_path / 'data' / 'inversa.sqlite3'}"
    first = load_secret_key(url)
    path = tmp_path / "data" / "web-secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret_key(url) == first and len(first) >= 32
    os.chmod(path, 0o644)
    load_secret_key(url)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setenv(SECRET_ENV, "k" * 40)
    assert load_secret_key(url) == b"k" * 40
    monkeypatch.setenv(SECRET_ENV, "short")
    with pytest.raises(ValueError, match=SECRET_ENV):
        load_secret_key(url)


def test_oversized_body_is_413(env: Env) -> None:
    response = env.client.post(
        "/api/v1/auth/token",
        content=b"x" * (FAST.max_body_bytes + 1),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413


# --------------------------------------------------------------------------------------- role pages
def test_admin_page_creates_accounts_and_links(env: Env) -> None:
    make_user(env, Role.ADMIN, "root@example.org")
    doc = make_user(env, Role.CLINICIAN, "dr@example.org")
    page_login(env.client, "root@example.org")
    page = env.client.get("/admin")
    assert page.status_code == 200 and "dr@example.org" in page.text
    token = csrf(env.client, "/admin")
    bad = env.client.post(
        "/admin/users",
        data={"email": "not-an-email", "display_name": "Ana", "role": "patient", "csrf_token": token},
    )
    assert bad.status_code == 400 and 'id="e-email"' in bad.text
    short = env.client.post(
        "/admin/users",
        data={
            "email": "ana@example.org",
            "display_name": "Ana",
            "role": "patient",
            "password": "short",
            "csrf_token": token,
        },
    )
    assert short.status_code == 400 and 'id="e-password"' in short.text
    made = env.client.post(
        "/admin/users",
        data={
            "email": "ana@example.org",
            "display_name": "Ana",
            "role": "patient",
            "password": PASSWORD,
            "csrf_token": token,
        },
    )
    assert made.status_code == 303 and made.headers["location"] == "/admin?done=created"
    dup = env.client.post(
        "/admin/users",
        data={"email": "ana@example.org", "display_name": "Ana", "role": "patient", "csrf_token": token},
    )
    assert dup.status_code == 400 and 'id="e-email"' in dup.text
    pid = env.store.user_by_email("ana@example.org").id
    wrong = env.client.post(
        "/admin/links", data={"clinician_id": str(pid), "patient_id": str(pid), "csrf_token": token}
    )
    assert wrong.status_code == 400 and 'id="e-clinician_id"' in wrong.text
    missing = env.client.post(
        "/admin/links", data={"clinician_id": "x", "patient_id": str(pid), "csrf_token": token}
    )
    assert missing.status_code == 400
    linked = env.client.post(
        "/admin/links", data={"clinician_id": str(doc), "patient_id": str(pid), "csrf_token": token}
    )
    assert linked.status_code == 303
    assert "Clinician linked" in env.client.get("/admin?done=linked").text
    # the clinician now sees the patient, and only that one
    make_user(env, Role.PATIENT, "other@example.org")
    env.client.cookies.clear()
    page_login(env.client, "dr@example.org")
    mine = env.client.get("/clinician").text
    assert "ana@example.org" in mine and "other@example.org" not in mine


def test_patient_page_lists_own_sessions(env: Env) -> None:
    from datetime import UTC, datetime, timedelta

    from inversa.store import SessionRecord

    pid = make_user(env, Role.PATIENT, "ana@example.org")
    other = make_user(env, Role.PATIENT, "bo@example.org")
    start = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    for who, cid, pain in ((pid, "ana-0001-sess", 6), (other, "bo-0001-sess", 9)):
        record = SessionRecord(
            client_id=cid, started_at=start, ended_at=start + timedelta(minutes=9), pain_before=pain
        )
        env.store.log_session(CLI_ACTOR, who, record)
    page_login(env.client, "ana@example.org")
    html = env.client.get("/patient").text
    assert "2026-11-25 08:00 UTC" in html and "<td>6</td>" in html and "<td>9</td>" not in html
    reads = [e for e in env.store.audit_entries(pid) if e["action"] == "read"]
    assert reads and reads[-1]["actor_id"] == pid  # the page's read is audited

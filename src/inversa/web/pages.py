"""Server-rendered pages: sign-in, first-admin setup, and each role's start page.

Pages work without JavaScript (plain forms). Every unsafe request carries the CSRF token of the
page it came from; forms are checked field by field and re-shown with the field named (400),
never a 500. Later issues add the guided session, diaries and dashboards here.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Self
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field, ValidationError, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from inversa.store import Actor, ConflictError, NotFoundError, Role
from inversa.web import accounts
from inversa.web.auth import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SESSION_COOKIE,
    LoginFailedError,
    Principal,
    RateLimitedError,
    authenticate,
    check_csrf,
    clear_cookie,
    client_ip,
    context,
    cookie_principal,
    csrf_nonce,
    expected_csrf,
    set_cookie,
    start_session,
)
from inversa.web.errors import field_errors
from inversa.web.schemas import Email, LoginEmail, Name, Password

__all__ = ["router", "templates"]

log = logging.getLogger("inversa.web")

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
router = APIRouter(include_in_schema=False)

HOME = {Role.PATIENT: "/patient", Role.CLINICIAN: "/clinician", Role.ADMIN: "/admin"}


# ------------------------------------------------------------------------------------------ helpers
def render(
    request: Request,
    name: str,
    principal: Principal | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> Response:
    """Render a template with the CSRF token of this browser (a nonce cookie is set on first
    visit) and the signed-in account."""
    nonce = csrf_nonce(request)
    fresh = nonce is None
    if nonce is None:
        nonce = secrets.token_urlsafe(24)
    values |= {"csrf_token": expected_csrf(request, principal, nonce), "user": principal and principal.user}
    values.setdefault("errors", {})
    values.setdefault("min_password", context(request).settings.min_password_chars)
    response = templates.TemplateResponse(request, name, values, status_code=status_code, headers=headers)
    if fresh:
        set_cookie(request, response, context(request).settings, CSRF_COOKIE, nonce)
    return response


async def _form(request: Request, max_fields: int = 30) -> FormData | None:
    """The submitted form, or None when it is not a plain form of at most ``max_fields`` fields."""
    try:
        return await request.form(max_files=0, max_fields=max_fields)
    except Exception:  # malformed multipart, too many fields, files: all answered as a bad form
        return None


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def _submitted(
    request: Request, principal: Principal | None, max_fields: int = 30
) -> FormData | Response:
    """The form if its CSRF token is right, else the 403 (or 400) page to answer with."""
    form = await _form(request, max_fields)
    if form is None:
        return render(request, "error.html", principal, 400, message="The form could not be read.")
    if not check_csrf(request, principal, _text(form, CSRF_FIELD) or request.headers.get("x-csrf-token")):
        return render(
            request,
            "error.html",
            principal,
            403,
            message="This form has expired or did not come from this site. Reload the page and try again.",
        )
    return form


def _errors(exc: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in field_errors(exc.errors()):
        key = str(err["loc"][-1]) if err["loc"] else "form"
        out.setdefault(key, err["msg"])
    return out


async def _principal(request: Request) -> Principal | None:
    return await run_in_threadpool(cookie_principal, request)


async def _page_user(request: Request, *roles: Role) -> Principal | Response:
    """The signed-in account if it has one of ``roles``; else a redirect to sign in, or 403."""
    principal = await _principal(request)
    if principal is None:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    if roles and principal.user.role not in roles:
        return render(request, "error.html", principal, 403, message="This page is not for your account.")
    return principal


def _safe_next(value: str) -> str | None:
    """Only a path on this site (no scheme, no host, no backslash tricks) may follow a sign-in."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value and len(value) < 300:
        return value
    return None


# -------------------------------------------------------------------------------------- sign in/out
class _LoginForm(BaseModel):
    email: LoginEmail
    password: Password


@router.get("/")
async def index(request: Request) -> Response:
    principal = await _principal(request)
    return RedirectResponse(HOME[principal.user.role] if principal else "/login", status_code=303)


@router.get("/login")
async def login_page(
    request: Request,
    next_path: Annotated[str, Query(alias="next", max_length=300)] = "",
    setup: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    principal = await _principal(request)
    return render(
        request, "login.html", principal, next=_safe_next(next_path) or "", setup_done=setup == "done"
    )


@router.post("/login")
async def login(request: Request) -> Response:
    principal = await _principal(request)
    form = await _submitted(request, principal)
    if isinstance(form, Response):
        return form
    next_path = _safe_next(_text(form, "next")) or ""
    shown: dict[str, Any] = {"email": _text(form, "email")[:320], "next": next_path}
    try:
        data = _LoginForm(email=_text(form, "email"), password=_text(form, "password"))
    except ValidationError as exc:
        return render(request, "login.html", principal, 400, errors=_errors(exc), **shown)
    ctx = context(request)
    try:
        user = await run_in_threadpool(authenticate, ctx, data.email, data.password, client_ip(request))
    except RateLimitedError as exc:
        return render(
            request,
            "login.html",
            principal,
            429,
            headers={"Retry-After": str(exc.retry_after)},
            errors={"form": f"Too many failed sign-ins. Try again in {exc.retry_after // 60 + 1} min."},
            **shown,
        )
    except LoginFailedError:
        return render(
            request, "login.html", principal, 401, errors={"form": "Wrong email or password."}, **shown
        )
    if principal is not None:  # a new sign-in replaces the old one in this browser
        await run_in_threadpool(accounts.revoke_token, ctx.store.engine, principal.token_id)
    token, _ = await run_in_threadpool(start_session, ctx, user, "session")
    response = RedirectResponse(next_path or HOME[user.role], status_code=303)
    set_cookie(request, response, ctx.settings, SESSION_COOKIE, token)
    set_cookie(request, response, ctx.settings, CSRF_COOKIE, secrets.token_urlsafe(24))  # new nonce
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    principal = await _principal(request)
    form = await _submitted(request, principal)
    if isinstance(form, Response):
        return form
    ctx = context(request)
    if principal is not None:
        await run_in_threadpool(accounts.revoke_token, ctx.store.engine, principal.token_id)
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(request, response, ctx.settings, SESSION_COOKIE)
    clear_cookie(request, response, ctx.settings, CSRF_COOKIE)
    return response


# -------------------------------------------------------------------------------------- first admin
class _SetupForm(BaseModel):
    code: Annotated[str, Field(min_length=1, max_length=100)]
    email: Email
    display_name: Name
    password: Password
    password_confirm: Annotated[str, Field(max_length=1024)]

    @model_validator(mode="after")
    def _same(self) -> Self:
        if self.password != self.password_confirm:
            raise ValueError("password_confirm: the two passwords differ")
        return self


SETUP_ACTOR = Actor(user_id=None, role=Role.ADMIN, label="setup code")


async def _setup_open(request: Request) -> bool:
    ctx = context(request)
    if not ctx.setup.pending:
        return False
    if await run_in_threadpool(accounts.active_admin_exists, ctx.store.engine):
        ctx.setup.retire()  # an admin was made another way (the command line): the code is void
        return False
    return True


@router.get("/setup")
async def setup_page(request: Request) -> Response:
    principal = await _principal(request)
    if not await _setup_open(request):
        return render(request, "error.html", principal, 404, message="Setup is closed: an admin exists.")
    return render(request, "setup.html", principal)


@router.post("/setup")
async def setup(request: Request) -> Response:
    principal = await _principal(request)
    form = await _submitted(request, principal)
    if isinstance(form, Response):
        return form
    if not await _setup_open(request):
        return render(request, "error.html", principal, 404, message="Setup is closed: an admin exists.")
    ctx = context(request)
    ip_key = f"setup:{client_ip(request)}"
    wait = ctx.limiter.retry_after(ip_key)
    shown: dict[str, Any] = {
        "email": _text(form, "email")[:320],
        "display_name": _text(form, "display_name")[:200],
    }
    if wait:
        return render(
            request,
            "setup.html",
            principal,
            429,
            headers={"Retry-After": str(wait)},
            errors={"code": f"Too many wrong codes. Try again in {wait // 60 + 1} min."},
            **shown,
        )
    try:
        data = _SetupForm.model_validate({k: _text(form, k) for k in _SetupForm.model_fields})
    except ValidationError as exc:
        return render(request, "setup.html", principal, 400, errors=_errors(exc), **shown)
    problem = ctx.passwords.problem(data.password)
    if problem:
        errors = {"password": problem.capitalize()}
        return render(request, "setup.html", principal, 400, errors=errors, **shown)
    password_hash = await run_in_threadpool(ctx.passwords.hash, data.password)

    def create() -> None:
        ctx.store.create_user(SETUP_ACTOR, data.email, data.display_name, Role.ADMIN, password_hash)

    try:
        used = await run_in_threadpool(ctx.setup.consume, data.code, create)
    except (ConflictError, ValueError) as exc:
        field, _, msg = str(exc).partition(": ")
        return render(request, "setup.html", principal, 400, errors={field: msg or str(exc)}, **shown)
    if not used:
        ctx.limiter.fail(ip_key)
        return render(request, "setup.html", principal, 400, errors={"code": "Wrong setup code."}, **shown)
    log.warning("first admin %s created with the setup code", data.email)
    return RedirectResponse("/login?setup=done", status_code=303)


# ---------------------------------------------------------------------------------- start pages
# /patient (the patient start page) lives in patient_pages.py.


def _session_row(session: dict[str, Any]) -> dict[str, Any]:
    start = datetime.fromisoformat(session["started_at"]).astimezone(UTC)
    end = datetime.fromisoformat(session["ended_at"]).astimezone(UTC)
    return {
        "date": start.strftime("%Y-%m-%d %H:%M UTC"),
        "minutes": round((end - start).total_seconds() / 60, 1),
        "pain_before": session["pain_before"],
        "pain_after": session["pain_after"],
        "symptoms": ", ".join(str(s).replace("_", " ") for s in session["symptoms"]) or "none",
    }


# /clinician: see clinician_pages.py


# ------------------------------------------------------------------------------------------- admin
class _AccountForm(BaseModel):
    email: Email
    display_name: Name
    role: Role
    password: Annotated[str, Field(max_length=1024)] = ""


async def _admin_page(
    request: Request, principal: Principal, status_code: int = 200, **values: Any
) -> Response:
    users = await run_in_threadpool(accounts.list_users, context(request).store.engine)
    return render(request, "admin_home.html", principal, status_code, users=users, roles=list(Role), **values)


@router.get("/admin")
async def admin_home(request: Request) -> Response:
    principal = await _page_user(request, Role.ADMIN)
    if isinstance(principal, Response):
        return principal
    return await _admin_page(request, principal, done=request.query_params.get("done", "")[:40])


@router.post("/admin/users")
async def admin_create(request: Request) -> Response:
    principal = await _page_user(request, Role.ADMIN)
    if isinstance(principal, Response):
        return principal
    form = await _submitted(request, principal)
    if isinstance(form, Response):
        return form
    shown: dict[str, Any] = {"new": {k: _text(form, k)[:320] for k in ("email", "display_name", "role")}}
    try:
        data = _AccountForm.model_validate({k: _text(form, k) for k in _AccountForm.model_fields})
    except ValidationError as exc:
        return await _admin_page(request, principal, 400, errors=_errors(exc), **shown)
    ctx = context(request)
    password_hash = None
    if data.password:
        problem = ctx.passwords.problem(data.password)
        if problem:
            return await _admin_page(request, principal, 400, errors={"password": problem}, **shown)
        password_hash = await run_in_threadpool(ctx.passwords.hash, data.password)
    try:
        await run_in_threadpool(
            ctx.store.create_user, principal.actor, data.email, data.display_name, data.role, password_hash
        )
    except (ConflictError, ValueError) as exc:
        field, _, msg = str(exc).partition(": ")
        return await _admin_page(request, principal, 400, errors={field: msg or str(exc)}, **shown)
    return RedirectResponse("/admin?done=created", status_code=303)


@router.post("/admin/links")
async def admin_link(request: Request) -> Response:
    principal = await _page_user(request, Role.ADMIN)
    if isinstance(principal, Response):
        return principal
    form = await _submitted(request, principal)
    if isinstance(form, Response):
        return form
    ctx = context(request)
    ids: dict[str, int] = {}
    for name in ("clinician_id", "patient_id"):
        text = _text(form, name)
        if not text.isdigit() or not 1 <= int(text) <= 2_147_483_647:
            return await _admin_page(request, principal, 400, errors={name: "choose an account"})
        ids[name] = int(text)
    try:
        await run_in_threadpool(ctx.store.link, principal.actor, ids["clinician_id"], ids["patient_id"])
    except NotFoundError as exc:
        field = "clinician_id" if "clinician" in str(exc) else "patient_id"
        return await _admin_page(request, principal, 400, errors={field: str(exc)})
    return RedirectResponse("/admin?done=linked", status_code=303)


# ---------------------------------------------------------------------------------------- password
class _PasswordForm(BaseModel):
    current_password: Password
    new_password: Password
    new_password_confirm: Annotated[str, Field(max_length=1024)]

    @model_validator(mode="after")
    def _same(self) -> Self:
        if self.new_password != self.new_password_confirm:
            raise ValueError("new_password_confirm: the two passwords differ")
        return self


@router.get("/account/password")
async def password_page(request: Request) -> Response:
    principal = await _page_user(request)
    if isinstance(principal, Response):
        return principal
    return render(request, "password.html", principal)


@router.post("/account/password")
async def password_change(request: Request) -> Response:
    principal = await _page_user(request)
    if isinstance(principal, Response):
        return principal
    form = await _submitted(request, principal)
    if isinstance(form, Response):
        return form
    try:
        data = _PasswordForm.model_validate({k: _text(form, k) for k in _PasswordForm.model_fields})
    except ValidationError as exc:
        return render(request, "password.html", principal, 400, errors=_errors(exc))
    ctx = context(request)
    problem = ctx.passwords.problem(data.new_password)
    if problem:
        return render(request, "password.html", principal, 400, errors={"new_password": problem})
    try:
        await run_in_threadpool(
            authenticate, ctx, principal.user.email, data.current_password, client_ip(request)
        )
    except RateLimitedError as exc:
        return render(
            request,
            "password.html",
            principal,
            429,
            headers={"Retry-After": str(exc.retry_after)},
            errors={"current_password": "Too many wrong passwords; try again later."},
        )
    except LoginFailedError:
        errors = {"current_password": "Wrong password."}
        return render(request, "password.html", principal, 400, errors=errors)
    new_hash = await run_in_threadpool(ctx.passwords.hash, data.new_password)
    await run_in_threadpool(
        accounts.set_password_hash, ctx.store.engine, principal.actor, principal.user.id, new_hash
    )
    await run_in_threadpool(
        accounts.revoke_user_tokens, ctx.store.engine, principal.user.id, principal.token_id
    )
    return render(request, "password.html", principal, done=True)

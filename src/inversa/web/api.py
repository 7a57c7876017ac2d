"""The JSON API under /api/v1: accounts, and each patient's records through the Store.

Every clinical read and change goes through a Store method, which checks the access rules and
writes the audit row in the same transaction. Route functions are plain ``def``: FastAPI runs them
in its thread pool, where the synchronous store belongs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status

from inversa.store import Role
from inversa.store.service import UserInfo
from inversa.web import accounts
from inversa.web.auth import (
    LoginFailedError,
    Principal,
    RateLimitedError,
    api_principal,
    authenticate,
    client_ip,
    context,
    require_role,
    start_session,
)
from inversa.web.schemas import (
    AccountCreate,
    AccountOut,
    ActiveUpdate,
    LinkCreate,
    PasswordChange,
    PatientOut,
    PatientSummary,
    ProfileIn,
    ProfileOut,
    QuestionnaireIn,
    QuestionnaireOut,
    QuestionnaireStored,
    ScreeningStatus,
    SessionOut,
    SessionStored,
    SessionUpload,
    Text,
    TokenOut,
    TokenRequest,
    UtcDatetime,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")

UserId = Annotated[int, Path(ge=1, le=2_147_483_647, description="an account id")]
PatientId = Annotated[int, Path(ge=1, le=2_147_483_647, description="the patient's account id")]
Reason = Annotated[
    Text | None,
    Query(
        min_length=1,
        max_length=500,
        description="admins only: why clinical data is read (kept in the audit log); "
        "ignored for patients and clinicians",
    ),
]
From = Annotated[UtcDatetime | None, Query(alias="from", description="from this time (with timezone)")]
To = Annotated[UtcDatetime | None, Query(alias="to", description="up to this time (with timezone)")]
Authenticated = Annotated[Principal, Depends(api_principal)]
Admin = Annotated[Principal, Depends(require_role(Role.ADMIN))]

Responses = dict[int | str, dict[str, Any]]
_401: Responses = {401: {"description": "not signed in (WWW-Authenticate: Bearer)"}}
_PATIENT: Responses = {
    **_401,
    403: {"description": "an admin without a stated reason"},
    404: {"description": "no such patient, or not one the caller may see"},
}


def _account(user: UserInfo) -> AccountOut:
    return AccountOut(
        id=user.id, email=user.email, display_name=user.display_name, role=user.role, active=user.active
    )


# ---------------------------------------------------------------------------------------------- auth
@router.post(
    "/auth/token",
    response_model=TokenOut,
    tags=["auth"],
    responses={401: {"description": "wrong email or password"}, 429: {"description": "rate limited"}},
)
def issue_token(body: TokenRequest, request: Request) -> TokenOut:
    """Exchange email and password for a bearer token (5 failures per account or address in 15 min
    lock further tries for the rest of the window: 429 with Retry-After)."""
    ctx = context(request)
    try:
        user = authenticate(ctx, body.email, body.password, client_ip(request))
    except RateLimitedError as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)}) from None
    except LoginFailedError as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": 'Bearer realm="inversa"'}) from None
    token, expires = start_session(ctx, user, "api")
    return TokenOut(access_token=token, expires_at=expires)


@router.post("/auth/logout", status_code=204, tags=["auth"], responses=_401)
def logout(principal: Authenticated, request: Request) -> Response:
    """Revoke the token (or browser session) this request was made with."""
    accounts.revoke_token(context(request).store.engine, principal.token_id)
    return Response(status_code=204)


# ------------------------------------------------------------------------------------------------ me
@router.get("/me", response_model=AccountOut, tags=["accounts"], responses=_401)
def me(principal: Authenticated) -> AccountOut:
    """The signed-in account."""
    return _account(principal.user)


@router.post(
    "/me/password",
    status_code=204,
    tags=["accounts"],
    responses={**_401, 403: {"description": "wrong current password"}, 429: {"description": "rate limited"}},
)
def change_password(body: PasswordChange, principal: Authenticated, request: Request) -> Response:
    """Change one's own password; every other sign-in of the account is revoked."""
    ctx = context(request)
    try:  # the same limits as signing in: a stolen token must not become a password oracle
        authenticate(ctx, principal.user.email, body.current_password, client_ip(request))
    except RateLimitedError as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)}) from None
    except LoginFailedError:
        raise HTTPException(403, "current_password: wrong password") from None
    problem = ctx.passwords.problem(body.new_password)
    if problem:
        raise ValueError(f"new_password: {problem}")
    accounts.set_password_hash(
        ctx.store.engine, principal.actor, principal.user.id, ctx.passwords.hash(body.new_password)
    )
    accounts.revoke_user_tokens(ctx.store.engine, principal.user.id, keep=principal.token_id)
    return Response(status_code=204)


# --------------------------------------------------------------------------------------------- admin
@router.get("/admin/users", response_model=list[AccountOut], tags=["admin"], responses=_401)
def admin_users(principal: Admin, request: Request) -> list[AccountOut]:
    """Every account (no clinical data)."""
    return [_account(u) for u in accounts.list_users(context(request).store.engine)]


@router.post("/admin/users", response_model=AccountOut, status_code=201, tags=["admin"], responses=_401)
def admin_create_user(body: AccountCreate, principal: Admin, request: Request) -> AccountOut:
    """Create an account, with a first password or none (then `inversa user password` sets it)."""
    ctx = context(request)
    password_hash = None
    if body.password is not None:
        problem = ctx.passwords.problem(body.password)
        if problem:
            raise ValueError(f"password: {problem}")
        password_hash = ctx.passwords.hash(body.password)
    uid = ctx.store.create_user(principal.actor, body.email, body.display_name, body.role, password_hash)
    return _account(accounts.user_info(ctx.store.engine, uid))


@router.patch("/admin/users/{user_id}", response_model=AccountOut, tags=["admin"], responses=_401)
def admin_set_active(user_id: UserId, body: ActiveUpdate, principal: Admin, request: Request) -> AccountOut:
    """Enable or disable an account; disabling signs it out everywhere."""
    return _account(accounts.set_active(context(request).store.engine, principal.actor, user_id, body.active))


@router.post("/admin/links", status_code=204, tags=["admin"], responses=_401)
def admin_link(body: LinkCreate, principal: Admin, request: Request) -> Response:
    """Let a clinician see a patient's records."""
    context(request).store.link(principal.actor, body.clinician_id, body.patient_id)
    return Response(status_code=204)


# ------------------------------------------------------------------------------------------ patients
@router.get(
    "/patients",
    response_model=list[PatientOut],
    tags=["patients"],
    responses={**_401, 403: {"description": "admins: use /admin/users"}},
)
def patients(principal: Authenticated, request: Request) -> list[PatientOut]:
    """The patients the caller may see: a clinician's linked patients, or a patient themself."""
    user = principal.user
    if user.role is Role.PATIENT:
        return [PatientOut(id=user.id, email=user.email, display_name=user.display_name)]
    if user.role is Role.CLINICIAN:
        linked = accounts.linked_patients(context(request).store.engine, principal.actor)
        return [PatientOut(id=u.id, email=u.email, display_name=u.display_name) for u in linked]
    raise HTTPException(403, "admins manage accounts at /api/v1/admin/users and read no clinical data here")


def _record(request: Request, principal: Principal, patient_id: int, reason: str | None) -> dict[str, Any]:
    return context(request).store.patient_record(principal.actor, patient_id, reason=reason, purpose="view")


def _latest(rows: list[dict[str, Any]], key: str) -> datetime | None:
    return datetime.fromisoformat(rows[-1][key]) if rows else None


@router.get("/patients/{patient_id}", response_model=PatientSummary, tags=["patients"], responses=_PATIENT)
def patient_summary(
    patient_id: PatientId, principal: Authenticated, request: Request, reason: Reason = None
) -> PatientSummary:
    """Who the patient is, their profile, how many sessions and questionnaires, the latest dates,
    the current screening and active programs (one audited read)."""
    record = _record(request, principal, patient_id, reason)
    screenings = record["screenings"]
    last = screenings[-1] if screenings else None
    return PatientSummary(
        patient=PatientOut.model_validate(record["patient"]),
        profile=None if record["profile"] is None else ProfileOut.model_validate(record["profile"]),
        sessions=len(record["sessions"]),
        questionnaires=len(record["questionnaires"]),
        last_session_at=_latest(record["sessions"], "started_at"),
        last_questionnaire_at=_latest(record["questionnaires"], "recorded_at"),
        screening=None if last is None else ScreeningStatus.model_validate(last),
        active_programs=sum(1 for p in record["programs"] if p["active"]),
    )


@router.get(
    "/patients/{patient_id}/profile",
    response_model=ProfileOut | None,
    tags=["patients"],
    responses=_PATIENT,
)
def get_profile(
    patient_id: PatientId, principal: Authenticated, request: Request, reason: Reason = None
) -> ProfileOut | None:
    """The patient's body data and resting values (null when none are stored yet)."""
    profile = _record(request, principal, patient_id, reason)["profile"]
    return None if profile is None else ProfileOut.model_validate(profile)


@router.put(
    "/patients/{patient_id}/profile", response_model=ProfileOut, tags=["patients"], responses=_PATIENT
)
def put_profile(
    patient_id: PatientId, body: ProfileIn, principal: Authenticated, request: Request, reason: Reason = None
) -> ProfileOut:
    """Replace the patient's profile (the patient, or a linked clinician)."""
    store = context(request).store
    fields = body.model_dump()
    if principal.user.role is Role.ADMIN:
        fields["reason"] = reason
    store.set_profile(principal.actor, patient_id, **fields)
    profile = _record(request, principal, patient_id, reason)["profile"]
    return ProfileOut.model_validate(profile)


@router.get(
    "/patients/{patient_id}/sessions", response_model=list[SessionOut], tags=["sessions"], responses=_PATIENT
)
def list_sessions(
    patient_id: PatientId,
    principal: Authenticated,
    request: Request,
    start: From = None,
    end: To = None,
    reason: Reason = None,
) -> list[dict[str, Any]]:
    """The patient's sessions that started in the range, oldest first, with their traces."""
    return context(request).store.sessions(principal.actor, patient_id, start, end, reason)


@router.post(
    "/patients/{patient_id}/sessions",
    response_model=SessionStored,
    status_code=201,
    tags=["sessions"],
    responses={
        **_PATIENT,
        200: {"model": SessionStored, "description": "this session was already stored (a replay)"},
        409: {"description": "the client_id already names a different session"},
    },
)
def upload_session(
    patient_id: PatientId, body: SessionUpload, principal: Authenticated, request: Request, response: Response
) -> SessionStored:
    """Store one session; sending it again is harmless (201 the first time, then 200 with the same
    id). The phone keeps the whole trace until this answers, so nothing is lost on a reload."""
    sid, created = context(request).store.log_session(principal.actor, patient_id, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return SessionStored(id=sid, client_id=body.client_id, created=created)


@router.get(
    "/patients/{patient_id}/questionnaires",
    response_model=list[QuestionnaireOut],
    tags=["questionnaires"],
    responses=_PATIENT,
)
def list_questionnaires(
    patient_id: PatientId,
    principal: Authenticated,
    request: Request,
    instrument: Annotated[str | None, Query(min_length=1, max_length=20, pattern=r"^[a-z0-9_]+$")] = None,
    start: From = None,
    end: To = None,
    reason: Reason = None,
) -> list[dict[str, Any]]:
    """The patient's scored responses in the range, oldest first."""
    return context(request).store.questionnaires(principal.actor, patient_id, instrument, start, end, reason)


@router.post(
    "/patients/{patient_id}/questionnaires",
    response_model=QuestionnaireStored,
    status_code=201,
    tags=["questionnaires"],
    responses={
        **_PATIENT,
        200: {"model": QuestionnaireStored, "description": "already stored under this client_id"},
        409: {"description": "the client_id already names a different response"},
    },
)
def add_questionnaire(
    patient_id: PatientId,
    body: QuestionnaireIn,
    principal: Authenticated,
    request: Request,
    response: Response,
) -> QuestionnaireStored:
    """Score (as published) and store one response; idempotent when a client_id is given."""
    rid, created = context(request).store.add_questionnaire(
        principal.actor, patient_id, body.instrument, body.answers, body.recorded_at, body.client_id
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return QuestionnaireStored(id=rid, created=created)

"""One error format for the API: 4xx with the field named, never a 500 for bad input.

Validation problems are 422 ``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``, the shape
FastAPI uses, without echoing the input back (it may hold a password). Store errors map to
403/404/409/422; a busy or unreachable database is 503 with Retry-After.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from inversa.outcomes import InvalidAnswerError, LicenceError, QuestionnaireError
from inversa.store import AccessDeniedError, ConflictError, NotFoundError, Role, StoreError

__all__ = ["field_errors", "install_error_handlers", "patient_hidden"]

log = logging.getLogger("inversa.web")

_LEADING_FIELD = re.compile(r"^([a-z][a-z0-9_]*)(?::\s*|\s+(?=\S))")


def _clean(msg: str) -> str:
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def field_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """pydantic errors as ``loc``/``msg``/``type`` only; a whole-model error whose message starts
    with a field name (``ended_at must ...``, ``field: ...``) is placed on that field."""
    out = []
    for err in errors:
        loc = list(err.get("loc", ()))
        msg = _clean(str(err.get("msg", "")))
        match = _LEADING_FIELD.match(msg)
        if match and len(loc) <= 1 and ("_" in match.group(1) or msg[match.end(1)] == ":"):
            loc.append(match.group(1))
            if msg[match.end(1)] == ":":
                msg = msg[match.end() :]
        out.append({"loc": loc, "msg": msg, "type": str(err.get("type", "value_error"))})
    return out


def _unprocessable(loc: list[Any], msg: str, kind: str = "value_error") -> JSONResponse:
    return JSONResponse({"detail": [{"loc": loc, "msg": msg, "type": kind}]}, status_code=422)


def patient_hidden(request: Request) -> bool:
    """Patients and clinicians are told "not found" for a patient they may not see, exactly as for
    one that does not exist, so ids cannot be probed; admins (who see the account list) are told
    why they were refused."""
    principal = getattr(request.state, "principal", None)
    return principal is None or principal.user.role is not Role.ADMIN


def install_error_handlers(app: FastAPI) -> None:
    """Map validation, store and database errors to 4xx/503 JSON answers."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": field_errors(exc.errors())}, status_code=422)

    @app.exception_handler(AccessDeniedError)
    async def _denied(request: Request, exc: AccessDeniedError) -> JSONResponse:
        pid = request.path_params.get("patient_id")
        if pid is not None and patient_hidden(request):
            return JSONResponse({"detail": f"no patient with id {pid}"}, status_code=404)
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc.args[0] if exc.args else exc)}, status_code=404)

    @app.exception_handler(ConflictError)
    async def _conflict(request: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(QuestionnaireError)
    async def _questionnaire(request: Request, exc: QuestionnaireError) -> JSONResponse:
        loc: list[Any] = ["body", "answers"]
        if isinstance(exc, InvalidAnswerError) and exc.item is not None:
            loc.append(exc.item - 1)
        if isinstance(exc, LicenceError) or str(exc).startswith("unknown instrument"):
            loc = ["body", "instrument"]
        return _unprocessable(loc, str(exc))

    @app.exception_handler(ValueError)
    async def _value(request: Request, exc: ValueError) -> JSONResponse:
        # the store's messages start with the field: "email: not a valid address"
        text = str(exc)
        field, sep, msg = text.partition(": ")
        if sep and re.fullmatch(r"[a-z][a-z0-9_]*", field):
            return _unprocessable(["body", field], msg)
        return _unprocessable(["body"], text)

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> JSONResponse:
        log.error("store error: %s", exc)
        return JSONResponse({"detail": "the database is not available"}, status_code=503)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        log.warning("integrity error: %s", str(exc.orig).splitlines()[0] if exc.orig else exc)
        return JSONResponse({"detail": "the change conflicts with a stored record"}, status_code=409)

    @app.exception_handler(SQLAlchemyError)
    async def _database(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        log.error("database error: %s", str(exc).splitlines()[0])
        return JSONResponse(
            {"detail": "the database is busy or unavailable: try again"},
            status_code=503,
            headers={"Retry-After": "2"},
        )

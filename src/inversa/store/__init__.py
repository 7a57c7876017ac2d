"""Records: SQLAlchemy models, Alembic migrations and a service layer with access rules and audit."""

from inversa.store.db import (
    StoreError,
    current_revision,
    database_url,
    head_revision,
    make_engine,
    session_scope,
    upgrade,
)
from inversa.store.models import Role
from inversa.store.records import SYMPTOMS, SessionRecord, Symptom
from inversa.store.service import CLI_ACTOR, AccessDeniedError, Actor, ConflictError, NotFoundError, Store

__all__ = [
    "CLI_ACTOR",
    "SYMPTOMS",
    "AccessDeniedError",
    "Actor",
    "ConflictError",
    "NotFoundError",
    "Role",
    "SessionRecord",
    "Store",
    "StoreError",
    "Symptom",
    "current_revision",
    "database_url",
    "head_revision",
    "make_engine",
    "session_scope",
    "upgrade",
]

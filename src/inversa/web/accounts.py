"""Account data the web app needs beyond the Store's public API, and the web's token table.

Everything here is account data (sign-in, roles, links), never clinical data, except the list of a
clinician's patients, which is audited like any clinical read. These helpers are a stop-gap: each
has a proposed Store method in STORE_CHANGES.md, and the token table a proposed migration; until
then the table is created on the same engine from this module's own metadata (``create_all`` with
checkfirst, so it never touches the store's tables).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import DateTime, Engine, ForeignKey, Integer, MetaData, String, delete, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from inversa.store import Actor, NotFoundError, Role, session_scope
from inversa.store.models import AuditLog, ClinicianPatient, User, utcnow
from inversa.store.service import UserInfo

__all__ = [
    "Credentials",
    "TokenKind",
    "WebBase",
    "WebToken",
    "active_admin_exists",
    "create_web_tables",
    "credentials",
    "issue_token",
    "linked_patients",
    "list_users",
    "principal_for_token",
    "rehash_password",
    "revoke_token",
    "revoke_user_tokens",
    "set_active",
    "set_password_hash",
    "user_info",
]

TokenKind = Literal["session", "api"]


class WebBase(DeclarativeBase):
    """The web app's own tables (kept out of the store's metadata and migrations for now)."""

    metadata = MetaData()


class WebToken(WebBase):
    """A sign-in: a browser session or an API bearer token. Only the token's SHA-256 is stored,
    so a copy of the database does not let anyone sign in."""

    __tablename__ = "web_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    # references the store's users table across metadata: deleting a user deletes its tokens
    user_id: Mapped[int] = mapped_column(ForeignKey(User.__table__.c.id, ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


def create_web_tables(engine: Engine) -> None:
    """Create the web tables if missing; the users table must exist (run migrations first)."""
    WebBase.metadata.create_all(engine, checkfirst=True)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _info(user: User) -> UserInfo:
    return UserInfo(user.id, user.email, user.display_name, user.role, user.active)


@dataclass(frozen=True)
class Credentials:
    """An account and its stored password hash (None: no password set yet)."""

    user: UserInfo
    password_hash: str | None


def credentials(engine: Engine, email: str) -> Credentials | None:
    """The account with this email and its password hash, for signing in; None when unknown."""
    with session_scope(engine) as db:
        user = db.scalar(select(User).where(User.email == email.strip().lower()))
        return None if user is None else Credentials(_info(user), user.password_hash)


def user_info(engine: Engine, user_id: int) -> UserInfo:
    with session_scope(engine) as db:
        user = db.get(User, user_id)
        if user is None:
            raise NotFoundError(f"no user with id {user_id}")
        return _info(user)


def set_password_hash(engine: Engine, actor: Actor, user_id: int, password_hash: str) -> None:
    """Store a new password hash (audited as an account change, never the hash itself)."""
    with session_scope(engine) as db:
        user = db.get(User, user_id)
        if user is None:
            raise NotFoundError(f"no user with id {user_id}")
        user.password_hash = password_hash
        db.add(
            AuditLog(
                actor_id=actor.user_id,
                action="update",
                entity="user_password",
                entity_id=str(user_id),
                detail={"actor": actor.label} if actor.label else {},
            )
        )


def rehash_password(engine: Engine, user_id: int, password_hash: str) -> None:
    """Replace a hash made with older argon2 costs (same password: not an account change)."""
    with session_scope(engine) as db:
        user = db.get(User, user_id)
        if user is not None:
            user.password_hash = password_hash


def active_admin_exists(engine: Engine) -> bool:
    with session_scope(engine) as db:
        count = db.scalar(
            select(func.count()).select_from(User).where(User.role == Role.ADMIN, User.active.is_(True))
        )
        return bool(count)


def list_users(engine: Engine) -> list[UserInfo]:
    """Every account (no clinical data), by id."""
    with session_scope(engine) as db:
        return [_info(u) for u in db.scalars(select(User).order_by(User.id)).all()]


def set_active(engine: Engine, actor: Actor, user_id: int, active: bool) -> UserInfo:
    """Enable or disable an account (audited); disabling signs it out everywhere. The last
    active admin cannot be disabled, so the system never locks its managers out."""
    with session_scope(engine) as db:
        user = db.get(User, user_id)
        if user is None:
            raise NotFoundError(f"no user with id {user_id}")
        if not active and user.role is Role.ADMIN and user.active:
            others = db.scalar(
                select(func.count())
                .select_from(User)
                .where(User.role == Role.ADMIN, User.active.is_(True), User.id != user_id)
            )
            if not others:
                raise ValueError("active: the last active admin cannot be disabled")
        user.active = active
        if not active:
            db.execute(delete(WebToken).where(WebToken.user_id == user_id))
        db.add(
            AuditLog(
                actor_id=actor.user_id,
                action="update",
                entity="user_active",
                entity_id=str(user_id),
                detail={"active": active} | ({"actor": actor.label} if actor.label else {}),
            )
        )
        return _info(user)


def linked_patients(engine: Engine, actor: Actor) -> list[UserInfo]:
    """The active patients linked to a clinician, by name; the read is audited (who sees whom is
    clinical information)."""
    if actor.role is not Role.CLINICIAN or actor.user_id is None:
        raise ValueError("actor: only a clinician has linked patients")
    with session_scope(engine) as db:
        rows = db.scalars(
            select(User)
            .join(ClinicianPatient, ClinicianPatient.patient_id == User.id)
            .where(ClinicianPatient.clinician_id == actor.user_id, User.active.is_(True))
            .order_by(User.display_name, User.id)
        ).all()
        db.add(
            AuditLog(
                actor_id=actor.user_id,
                action="read",
                entity="patient_list",
                detail={"count": len(rows)} | ({"actor": actor.label} if actor.label else {}),
            )
        )
        return [_info(u) for u in rows]


# ------------------------------------------------------------------------------------------ tokens
def issue_token(
    engine: Engine, user_id: int, kind: TokenKind, token_hash: str, lifetime: timedelta
) -> datetime:
    """Store a new sign-in (by its hash); returns when it expires. Expired sign-ins of the user go."""
    now = datetime.now(UTC)
    expires = now + lifetime
    with session_scope(engine) as db:
        db.execute(delete(WebToken).where(WebToken.user_id == user_id, WebToken.expires_at <= now))
        db.add(WebToken(token_hash=token_hash, user_id=user_id, kind=kind, expires_at=expires))
    return expires


def principal_for_token(engine: Engine, token_hash: str, kind: TokenKind) -> tuple[UserInfo, int] | None:
    """The active account behind a live token of this kind, and the token's id; None otherwise."""
    now = datetime.now(UTC)
    with session_scope(engine) as db:
        row = db.execute(
            select(WebToken, User)
            .join(User, User.id == WebToken.user_id)
            .where(WebToken.token_hash == token_hash, WebToken.kind == kind)
        ).first()
        if row is None:
            return None
        token, user = row
        if _utc(token.expires_at) <= now or not user.active:
            return None
        return _info(user), token.id


def revoke_token(engine: Engine, token_id: int) -> None:
    with session_scope(engine) as db:
        db.execute(delete(WebToken).where(WebToken.id == token_id))


def revoke_user_tokens(engine: Engine, user_id: int, keep: int | None = None) -> None:
    """Sign a user out everywhere (but the sign-in ``keep``), e.g. after a password change."""
    with session_scope(engine) as db:
        query = delete(WebToken).where(WebToken.user_id == user_id)
        if keep is not None:
            query = query.where(WebToken.id != keep)
        db.execute(query)

"""The guided session on the table: the page, its scripts' upload target, and the session's end."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

"""Patient pages: onboarding (profile, screening, limits, program), diary and questionnaires,
progress charts, the n-of-1 answer and the engine's picture of a planned session."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

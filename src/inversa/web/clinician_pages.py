"""Clinician pages: patient list with flags, patient detail, program and ceiling, clearing a
finding, the PDF report and the FHIR export."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

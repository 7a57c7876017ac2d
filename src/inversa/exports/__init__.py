"""Exports of a person's records: CSV (everything they own), FHIR R4 bundle, PDF report."""

from inversa.exports.csv_export import export_csv_zip
from inversa.exports.fhir import FhirError, build_bundle, check_bundle
from inversa.exports.pdf_report import ReportSections, write_pdf_report

__all__ = [
    "FhirError",
    "ReportSections",
    "build_bundle",
    "check_bundle",
    "export_csv_zip",
    "write_pdf_report",
]

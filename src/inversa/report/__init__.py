"""Figures and reports built from simulation results (presentation only; no physiology here)."""

from inversa.report.figures import plot_result, write_html_report

__all__ = ["plot_result", "write_html_report"]

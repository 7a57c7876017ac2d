"""Inversa: a physiology engine for a person on an inversion table, and the tools around it."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("inversa")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

"""The web app: a JSON API under /api/v1 and server-rendered pages on the record store.

``create_app()`` builds it; ``serve()`` runs it with uvicorn (``inversa serve``).
"""

from inversa.web.app import create_app
from inversa.web.serve import serve

__all__ = ["create_app", "serve"]

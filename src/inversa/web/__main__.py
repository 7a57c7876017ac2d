"""``python -m inversa.web [--host H] [--port P] [--database-url URL]``: run the web app."""

from __future__ import annotations

import argparse
import sys

from inversa.store import StoreError
from inversa.web.serve import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m inversa.web", description="Run the Inversa web app.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--database-url", default=None, help="default: $INVERSA_DATABASE_URL, else the embedded SQLite file"
    )
    args = parser.parse_args(argv)
    try:
        serve(args.host, args.port, args.database_url)
    except (StoreError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()

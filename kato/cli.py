"""The `kato` command."""

from __future__ import annotations

import argparse
import sys

from kato import REFERENCE_VERSION, __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kato", description="kato: sequence-pattern memory and prediction server")
    parser.add_argument("--version", action="version", version=f"kato {__version__} (KATO {REFERENCE_VERSION} API)")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.add_argument("--data-dir")
    serve.add_argument("--config")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        try:
            from kato.server import serve
        except ImportError:
            print("kato serve: the HTTP server is not built yet", file=sys.stderr)
            return 1
        return serve(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())

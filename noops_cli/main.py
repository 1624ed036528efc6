"""Entry point of the ``noops`` command."""

from __future__ import annotations

import argparse
import importlib
import sys
import typing as t

# Each command group lives in its own module with ``register(subparsers)``; its handlers return an exit status.
COMMAND_MODULES = ("tree", "package", "tasks", "deploy", "demo", "console", "services")


class CliError(Exception):
    """An error to print on one line (prefixed "noops: ") with exit status 2 unless given."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="noops", description="Service tree, deploys and processes of your fleet.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module("noops_cli.%s" % name).register(sub)
    return parser


def main(argv: t.Sequence[str] | None = None) -> int:
    import noops_cli

    if noops_cli.LOCATE_ERROR:  # every command needs the collection's code
        print("noops: %s" % noops_cli.LOCATE_ERROR, file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except CliError as e:
        for line in str(e).splitlines() or [""]:  # every problem at once, one line each
            print("noops: %s" % line, file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        print("noops: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The ``navarch`` command: one subcommand per component (DESIGN.md section 2).

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds its parser and
sets ``func`` to a callable taking the parsed arguments and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = ("server", "apiserver", "scheduler", "controller-manager", "cloud-controller-manager", "kubelet",
               "sim-nodes", "datastore", "kubectl", "agent", "token")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="navarch", description="navarch: the Kubernetes architecture, rebuilt in Python. Each subcommand is one component.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"navarch.cli.{name.replace('-', '_')}")
        except ModuleNotFoundError as e:
            if e.name != f"navarch.cli.{name.replace('-', '_')}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

"""``navarch server``: a one-machine cluster. For now it runs the API server and its store."""

from __future__ import annotations

import argparse
import asyncio

from navarch.cli.apiserver import add_apiserver_flags, serve
from navarch.cli.common import add_logging_flags, run_async, setup_logging


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("server", help="run a one-machine cluster",
                       description="Run a one-machine cluster: store and API server (scheduler, controllers "
                                   "and a node agent join in later releases).")
    add_apiserver_flags(p)
    p.add_argument("--disable-agent", action="store_true",
                   help="do not run a local node agent (no agent exists yet; accepted for forward compatibility)")
    add_logging_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    setup_logging(args)
    return run_async(serve(args))

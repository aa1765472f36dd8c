"""Flags and set-up shared by the subcommands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Any, Coroutine


def default_data_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/navarch")
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "navarch"


def add_logging_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--v", dest="verbosity", type=int, default=0, help="log verbosity (0: info, 1+: debug)")


def setup_logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if getattr(args, "verbosity", 0) > 0 else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname).1s %(name)s: %(message)s")


async def until_signalled(main: "Coroutine[Any, Any, Any]", name: str, stopped: str) -> None:
    """Run a component's ``main`` as a task that SIGTERM and SIGINT cancel (its ``finally`` blocks
    then release Leases and connections); ``stopped`` is logged, under ``name``, when they do."""
    task = asyncio.create_task(main, name=name)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        logging.getLogger(f"navarch.{name}").info("%s", stopped)


def run_async(main: "Coroutine[Any, Any, int]") -> int:
    """Run a component's main coroutine on uvloop when it is installed (its event loop and TLS are
    native code, measured at +25-30% API throughput), else on asyncio's own loop. Every component
    holds large informer caches, so each runs with the collector thresholds of ``gctuning``."""
    from navarch.lifecycle import gctuning

    gctuning.tune_for_throughput()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)

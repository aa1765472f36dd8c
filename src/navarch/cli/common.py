"""Flags and set-up shared by the subcommands."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path


def default_data_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/navarch")
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "navarch"


def add_logging_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--v", dest="verbosity", type=int, default=0, help="log verbosity (0: info, 1+: debug)")


def setup_logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if getattr(args, "verbosity", 0) > 0 else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname).1s %(name)s: %(message)s")

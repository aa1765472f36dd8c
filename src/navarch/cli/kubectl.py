"""``navarch kubectl ...``: kubectl with this cluster's admin kubeconfig."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from navarch.cli.common import default_data_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("kubectl", help="run kubectl against this cluster", add_help=False)
    p.add_argument("--data-dir", type=Path, default=default_data_dir())
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    exe = shutil.which("kubectl")
    if exe is None:
        print("navarch: kubectl is not installed")
        return 1
    env = dict(os.environ, KUBECONFIG=str(args.data_dir / "kubeconfig"))
    os.execvpe(exe, [exe, *args.args], env)
    return 1

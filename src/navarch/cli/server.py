"""``navarch server``: a one-machine cluster: store, API server, scheduler and controller manager."""

from __future__ import annotations

import argparse
from pathlib import Path

from navarch.cli.apiserver import add_apiserver_flags, serve
from navarch.cli.common import add_logging_flags, run_async, setup_logging


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("server", help="run a one-machine cluster",
                       description="Run a one-machine cluster: the store and API server in this process, "
                                   "the scheduler and controller manager as supervised child processes, each "
                                   "with its own client certificate.")
    add_apiserver_flags(p)
    p.add_argument("--disable-scheduler", action="store_true", help="do not run the scheduler")
    p.add_argument("--disable-controller-manager", action="store_true", help="do not run the controller manager")
    p.add_argument("--disable-agent", action="store_true",
                   help="do not run a local node agent (accepted for compatibility: the agent comes later)")
    p.add_argument("--controller-arg", action="append", default=[],
                   help="extra flag passed to the controller manager (repeatable), e.g. "
                        "--controller-arg=--node-monitor-grace-period=5")
    p.add_argument("--scheduler-arg", action="append", default=[],
                   help="extra flag passed to the scheduler (repeatable)")
    add_logging_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    setup_logging(args)
    return run_async(serve(args, on_ready=lambda d, pki, url: _start_components(args, d, pki, url)))


async def _start_components(args: argparse.Namespace, data_dir: Path, pki, server_url: str):
    from navarch.server.components import component_kubeconfig
    from navarch.server.supervisor import Supervisor

    sup = Supervisor()
    verbosity = ["-v", str(args.verbosity)] if args.verbosity else []
    if not args.disable_controller_manager:
        kc = component_kubeconfig(data_dir, pki, server_url, "system:kube-controller-manager", [])
        sup.add("controller-manager", "controller-manager", "--kubeconfig", str(kc), *verbosity,
                *args.controller_arg)
    if not args.disable_scheduler:
        kc = component_kubeconfig(data_dir, pki, server_url, "system:kube-scheduler", [])
        sup.add("scheduler", "scheduler", "--kubeconfig", str(kc), *verbosity, *args.scheduler_arg)
    await sup.start()
    return sup.stop

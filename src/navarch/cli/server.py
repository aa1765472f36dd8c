"""``navarch server``: a one-machine cluster: store, API server, scheduler, controller manager and a
local node agent (kubelet) named after the host."""

from __future__ import annotations

import argparse
from pathlib import Path

from navarch.cli.apiserver import add_apiserver_flags, serve
from navarch.cli.common import add_logging_flags, run_async, setup_logging


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("server", help="run a one-machine cluster",
                       description="Run a one-machine cluster: the store and API server in this process, "
                                   "the scheduler, controller manager and a kubelet for this machine as "
                                   "supervised child processes, each with its own client certificate.")
    add_apiserver_flags(p)
    p.add_argument("--disable-scheduler", action="store_true", help="do not run the scheduler")
    p.add_argument("--disable-controller-manager", action="store_true", help="do not run the controller manager")
    p.add_argument("--disable-agent", action="store_true",
                   help="do not run the local node agent (the kubelet that registers this machine as a Node "
                        "and runs its pods as host processes)")
    p.add_argument("--controller-arg", action="append", default=[],
                   help="extra flag passed to the controller manager (repeatable), e.g. "
                        "--controller-arg=--node-monitor-grace-period=5")
    p.add_argument("--scheduler-arg", action="append", default=[],
                   help="extra flag passed to the scheduler (repeatable)")
    p.add_argument("--kubelet-arg", action="append", default=[],
                   help="extra flag passed to the local kubelet (repeatable; write it with '=', e.g. "
                        "--kubelet-arg=--port=0; see navarch kubelet --help)")
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
    if not args.disable_agent:
        sup.add("kubelet", *kubelet_argv(data_dir, pki, server_url, verbosity, args.kubelet_arg))
    await sup.start()
    return sup.stop


def kubelet_argv(data_dir: Path, pki, server_url: str, verbosity: list[str], extra: list[str],
                 node_name: str | None = None) -> list[str]:
    """The local agent, as k3s runs its own: the standalone ``navarch kubelet`` with a node identity
    (``system:node:<host>`` in ``system:nodes``), its root dir in the data dir, and the cluster CA
    as the CA of clients it accepts (the API server presents a certificate of that CA)."""
    from navarch.kubelet.machine import default_hostname
    from navarch.server.components import NODES_GROUP, component_kubeconfig, node_user

    name = node_name or _flag_value(extra, "--node-name") or default_hostname()
    kc = component_kubeconfig(data_dir, pki, server_url, node_user(name), [NODES_GROUP], name="kubelet")
    return ["kubelet", "--kubeconfig", str(kc), "--node-name", name,
            "--root-dir", str(data_dir / "agent" / "kubelet"), "--client-ca-file", str(pki.ca.cert),
            *verbosity, *extra]


def _flag_value(argv: list[str], flag: str) -> str:
    """The last value given to ``flag`` in ``argv`` (``--flag=v`` or ``--flag v``), "" if absent:
    the identity in the kubelet's certificate must name the node it will register."""
    value = ""
    for i, arg in enumerate(argv):
        if arg.startswith(flag + "="):
            value = arg[len(flag) + 1:]
        elif arg == flag and i + 1 < len(argv):
            value = argv[i + 1]
    return value.strip().lower()

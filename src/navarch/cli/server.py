"""``navarch server``: a one-machine cluster: store, API server, scheduler, controller manager, cloud
controller manager and a local node agent (kubelet) named after the host."""

from __future__ import annotations

import argparse
from pathlib import Path

from navarch.cli.apiserver import add_apiserver_flags, serve
from navarch.cli.common import add_logging_flags, run_async, setup_logging


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("server", help="run a one-machine cluster",
                       description="Run a one-machine cluster: the store and API server in this process, "
                                   "the scheduler, controller manager, cloud controller manager and a kubelet "
                                   "for this machine as supervised child processes, each with its own client "
                                   "certificate. Secrets are encrypted at rest with a key kept in "
                                   "DIR/encryption-config.yaml unless --encryption-provider-config names another.")
    add_apiserver_flags(p)
    p.add_argument("--disable-scheduler", action="store_true", help="do not run the scheduler")
    p.add_argument("--disable-controller-manager", action="store_true", help="do not run the controller manager")
    p.add_argument("--disable-cloud-controller-manager", action="store_true",
                   help="do not run the cloud controller manager (stub provider: LoadBalancer Service IPs)")
    p.add_argument("--cloud-controller-arg", action="append", default=[],
                   help="extra flag passed to the cloud controller manager (repeatable), e.g. "
                        "--cloud-controller-arg=--lb-ip-pool=127.0.1.1-127.0.1.50")
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
    p.set_defaults(func=run, default_encryption_config=True)


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
        # The cluster CA signs the certificates CSRs ask for (agents' node certificates).
        signing = ["--cluster-signing-cert-file", str(pki.ca.cert), "--cluster-signing-key-file", str(pki.ca.key)]
        signing += ["--root-ca-file", str(pki.ca.cert)]
        sup.add("controller-manager", "controller-manager", "--kubeconfig", str(kc), *signing, *verbosity,
                *args.controller_arg)
    if not args.disable_scheduler:
        kc = component_kubeconfig(data_dir, pki, server_url, "system:kube-scheduler", [])
        sup.add("scheduler", "scheduler", "--kubeconfig", str(kc), *verbosity, *args.scheduler_arg)
    if not args.disable_cloud_controller_manager:
        kc = component_kubeconfig(data_dir, pki, server_url, "system:cloud-controller-manager", [])
        sup.add("cloud-controller-manager", "cloud-controller-manager", "--kubeconfig", str(kc), *verbosity,
                *args.cloud_controller_arg)
    if not args.disable_agent:
        sup.add("kubelet", *kubelet_argv(data_dir, pki, server_url, verbosity, args.kubelet_arg))
    await sup.start()
    # After the children are on their way: their start-up (imports, mostly) overlaps this round trip.
    await _announce_join_token(data_dir, pki, server_url)
    return sup.stop


async def _announce_join_token(data_dir: Path, pki, server_url: str) -> None:
    """Keep ``DIR/token`` and its Secret, and tell the user how to join agents and use the cluster."""
    import logging

    import aiohttp

    from navarch.client.errors import ApiError
    from navarch.client.rest import Client
    from navarch.server.join import ensure_server_token

    kubeconfig = data_dir / "kubeconfig"
    try:
        async with Client.from_kubeconfig(str(kubeconfig)) as client:
            token = await ensure_server_token(data_dir, pki.ca.cert.read_bytes(), client)
    except (ApiError, OSError, ValueError, aiohttp.ClientError) as e:  # the cluster works; joining does not
        logging.getLogger("navarch.server").error("could not create the join token: %s", e)
        return
    print(f"navarch: join token (also in {data_dir / 'token'}): {token}\n"
          f"navarch: join a machine: navarch agent --server {server_url} --token-file {data_dir / 'token'}\n"
          f"navarch: nodes: kubectl --kubeconfig {kubeconfig} get nodes", flush=True)


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

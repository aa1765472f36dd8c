"""``navarch controller-manager``: the control loops (replica sets, deployments, garbage collection...)."""

from __future__ import annotations

import argparse

from navarch.cli.common import add_logging_flags, run_async, setup_logging, until_signalled


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("controller-manager", help="run the controller manager",
                       description="Run the controllers against the API named by --kubeconfig. Several "
                                   "copies may run: only the holder of the kube-controller-manager Lease acts.")
    add_flags(p)
    add_logging_flags(p)
    p.set_defaults(func=run)


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", default=None, help="kubeconfig of the cluster (default: $KUBECONFIG)")
    p.add_argument("--controllers", action="append", default=None,
                   help="controllers to run: '*' for all, 'foo' to add, '-foo' to remove (default: *)")
    p.add_argument("--leader-elect", default=True, action=argparse.BooleanOptionalAction,
                   help="run only while holding the kube-system/kube-controller-manager Lease (default: on)")
    p.add_argument("--leader-elect-lease-duration", type=float, default=15.0, help="seconds (default: 15)")
    p.add_argument("--leader-elect-renew-deadline", type=float, default=10.0, help="seconds (default: 10)")
    p.add_argument("--leader-elect-retry-period", type=float, default=2.0, help="seconds (default: 2)")
    p.add_argument("--node-monitor-grace-period", type=float, default=40.0,
                   help="seconds without a node heartbeat before the node is marked unhealthy (default: 40)")
    p.add_argument("--root-ca-file", default="",
                   help="PEM CA bundle published as ConfigMap kube-root-ca.crt in every namespace, for pods "
                        "to verify the API server (default: the CA of --kubeconfig)")
    p.add_argument("--cluster-signing-cert-file", default="",
                   help="PEM CA certificate the csrsigning controller signs approved certificate requests "
                        "with (kubernetes.io/kube-apiserver-client, -client-kubelet, kubelet-serving)")
    p.add_argument("--cluster-signing-key-file", default="", help="PEM private key of --cluster-signing-cert-file")
    p.add_argument("--cluster-signing-duration", type=_duration_seconds, default=365 * 24 * 3600.0,
                   help="longest lifetime of a signed certificate, a duration such as 8760h (default: 8760h)")


def config_from_args(args: argparse.Namespace):
    from navarch.controllers.manager import ControllerManagerConfig

    return ControllerManagerConfig(
        kubeconfig=args.kubeconfig, controllers=tuple(args.controllers or ["*"]), leader_elect=args.leader_elect,
        lease_duration=args.leader_elect_lease_duration, renew_deadline=args.leader_elect_renew_deadline,
        retry_period=args.leader_elect_retry_period,
        options={"node-monitor-grace-period": args.node_monitor_grace_period,
                 "root-ca-file": args.root_ca_file,
                 "cluster-signing-cert-file": args.cluster_signing_cert_file,
                 "cluster-signing-key-file": args.cluster_signing_key_file,
                 "cluster-signing-duration": args.cluster_signing_duration})


def _duration_seconds(text: str) -> float:
    """A Go duration ("8760h", "30m") or plain seconds."""
    from navarch.api.bootstraptoken import parse_ttl

    try:
        return float(text)
    except ValueError:
        pass
    ttl = parse_ttl(text)
    if ttl is None:
        raise argparse.ArgumentTypeError("the signing duration must be positive")
    return ttl.total_seconds()


def run(args: argparse.Namespace) -> int:
    setup_logging(args)
    return run_async(_main(config_from_args(args)))


async def _main(config) -> int:
    from navarch.controllers.manager import run_controller_manager

    await until_signalled(run_controller_manager(config), "controller-manager", "stopped")
    return 0

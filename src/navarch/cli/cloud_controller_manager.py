"""``navarch cloud-controller-manager``: the loops that ask the cloud for nodes, load balancers and routes."""

from __future__ import annotations

import argparse

from navarch.cli.common import add_logging_flags, run_async, setup_logging, until_signalled


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cloud-controller-manager", help="run the cloud controller manager",
                       description="Run the cloud controllers (cloud-node, cloud-node-lifecycle, service-lb, "
                                   "route) against the API named by --kubeconfig. Several copies may run: only "
                                   "the holder of the kube-system/cloud-controller-manager Lease acts.")
    add_flags(p)
    add_logging_flags(p)
    p.set_defaults(func=run)


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", default=None, help="kubeconfig of the cluster (default: $KUBECONFIG)")
    p.add_argument("--cloud-provider", default="stub",
                   help="the cloud: 'stub' (load-balancer IPs from a local pool, every node an instance; "
                        "default: %(default)s)")
    p.add_argument("--controllers", action="append", default=None,
                   help="controllers to run: '*' for all, 'foo' to add, '-foo' to remove; known: cloud-node, "
                        "cloud-node-lifecycle, service-lb, route (default: *)")
    p.add_argument("--cluster-name", default="kubernetes",
                   help="cluster name the cloud's resources are tagged with (default: %(default)s)")
    p.add_argument("--lb-ip-pool", default="127.0.0.2-127.0.0.254",
                   help="stub provider: addresses for LoadBalancer Services, as ranges A-B, CIDRs or single "
                        "addresses separated by commas, or 'node' for the nodes' InternalIPs "
                        "(default: %(default)s)")
    p.add_argument("--node-monitor-period", type=float, default=5.0,
                   help="seconds between checks of not-ready nodes against the cloud (default: %(default)s)")
    p.add_argument("--route-reconciliation-period", type=float, default=10.0,
                   help="seconds between route reconciliations (default: %(default)s)")
    p.add_argument("--leader-elect", default=True, action=argparse.BooleanOptionalAction,
                   help="run only while holding the kube-system/cloud-controller-manager Lease (default: on)")
    p.add_argument("--leader-elect-lease-duration", type=float, default=15.0, help="seconds (default: 15)")
    p.add_argument("--leader-elect-renew-deadline", type=float, default=10.0, help="seconds (default: 10)")
    p.add_argument("--leader-elect-retry-period", type=float, default=2.0, help="seconds (default: 2)")


def config_from_args(args: argparse.Namespace):
    from navarch.cloudprovider.manager import CloudControllerManagerConfig

    return CloudControllerManagerConfig(
        kubeconfig=args.kubeconfig, cloud_provider=args.cloud_provider,
        controllers=tuple(args.controllers or ["*"]), cluster_name=args.cluster_name,
        leader_elect=args.leader_elect, lease_duration=args.leader_elect_lease_duration,
        renew_deadline=args.leader_elect_renew_deadline, retry_period=args.leader_elect_retry_period,
        options={"lb-ip-pool": args.lb_ip_pool, "node-monitor-period": args.node_monitor_period,
                 "route-reconciliation-period": args.route_reconciliation_period})


def run(args: argparse.Namespace) -> int:
    setup_logging(args)
    config = config_from_args(args)
    from navarch.cloudprovider.manager import enabled
    from navarch.cloudprovider.providers import get_provider

    try:
        enabled(config.controllers)
        get_provider(config.cloud_provider, config.options)
    except ValueError as e:
        print(f"navarch cloud-controller-manager: {e}")
        return 2
    return run_async(_main(config))


async def _main(config) -> int:
    from navarch.cloudprovider.manager import run_cloud_controller_manager

    await until_signalled(run_cloud_controller_manager(config), "cloud-controller-manager", "stopped")
    return 0

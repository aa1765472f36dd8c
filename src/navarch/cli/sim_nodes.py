"""``navarch sim-nodes``: simulated nodes (kubelets over a runtime that runs nothing), as KWOK and
kubemark provide upstream, for testing and benchmarking the control plane at thousands of nodes."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from navarch.cli.common import add_logging_flags, run_async, setup_logging

log = logging.getLogger("navarch.sim-nodes")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sim-nodes", help="run N simulated nodes against a cluster",
        description="Run N simulated nodes in one process. Each registers a Node, renews its Lease in "
                    "kube-node-lease, reports capacity and moves the pods bound to it to Running (or to "
                    "Succeeded/Failed when annotated with sim.navarch.io/exit-code and optionally "
                    "sim.navarch.io/run-seconds), with pod IPs from its own pod CIDR. No process runs.")
    p.add_argument("--kubeconfig", type=Path, required=True, help="kubeconfig of the cluster to join")
    p.add_argument("--count", type=int, default=1, help="number of nodes (default: %(default)s)")
    p.add_argument("--name-prefix", default="sim-node-",
                   help="node names are PREFIX0, PREFIX1, ... (default: %(default)s)")
    p.add_argument("--cpu", default="4", help="cpu capacity of each node (default: %(default)s)")
    p.add_argument("--memory", default="16Gi", help="memory capacity of each node (default: %(default)s)")
    p.add_argument("--pods", default="110", help="pod capacity of each node (default: %(default)s)")
    p.add_argument("--ephemeral-storage", default="100Gi",
                   help="ephemeral-storage capacity of each node (default: %(default)s)")
    p.add_argument("--node-labels", default="",
                   help="extra labels for every node, as key=value,key2=value2")
    p.add_argument("--register-with-taints", default="",
                   help="taints for every node at registration, as key=value:Effect,key2:Effect")
    p.add_argument("--cluster-cidr", default="10.42.0.0/16",
                   help="CIDR the nodes' pod CIDRs are cut from (default: %(default)s); a /16 holds 256 "
                        "nodes at the default mask, so use e.g. 10.32.0.0/11 for up to 8192")
    p.add_argument("--node-cidr-mask-size", type=int, default=24,
                   help="prefix length of each node's pod CIDR (default: %(default)s)")
    p.add_argument("--node-ip-cidr", default="172.20.0.0/16",
                   help="CIDR the nodes' InternalIPs come from (default: %(default)s)")
    p.add_argument("--lease-interval", type=float, default=10.0,
                   help="seconds between Lease renewals (default: %(default)s)")
    p.add_argument("--lease-duration", type=int, default=40,
                   help="leaseDurationSeconds of the node Leases (default: %(default)s)")
    p.add_argument("--node-status-update-frequency", type=float, default=10.0,
                   help="seconds between node status computations (default: %(default)s)")
    p.add_argument("--node-status-report-frequency", type=float, default=300.0,
                   help="seconds after which an unchanged node status is written anyway (default: %(default)s)")
    p.add_argument("--sync-frequency", type=float, default=60.0,
                   help="seconds between periodic re-syncs of each pod; 0 disables (default: %(default)s)")
    p.add_argument("--record-events", action="store_true",
                   help="write pod Events (Pulled, Created, Started, Killing, BackOff); off by default "
                        "because thousands of simulated pods would flood the API server with them")
    p.add_argument("--pod-workers", type=int, default=32,
                   help="pod syncs in flight at once, across all nodes (default: %(default)s)")
    p.add_argument("--heartbeat-workers", type=int, default=32,
                   help="registrations, Lease renewals and status writes in flight at once (default: %(default)s)")
    p.add_argument("--stop-after", type=float, default=0.0,
                   help="exit after this many seconds (default: run until SIGTERM/SIGINT)")
    add_logging_flags(p)
    p.set_defaults(func=run)


def parse_labels(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"label {item!r} is not key=value")
        out[key] = value
    return out


def parse_taints(text: str) -> tuple[dict[str, str], ...]:
    out = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        kv, sep, effect = item.rpartition(":")
        if not sep or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise argparse.ArgumentTypeError(f"taint {item!r} is not key[=value]:NoSchedule|PreferNoSchedule|NoExecute")
        key, _, value = kv.partition("=")
        taint = {"key": key, "effect": effect}
        if value:
            taint["value"] = value
        out.append(taint)
    return tuple(out)


def config_from_args(args: argparse.Namespace):
    from navarch.kubelet.simnodes import SimNodesConfig

    return SimNodesConfig(
        count=args.count, name_prefix=args.name_prefix, cpu=args.cpu, memory=args.memory, pods=args.pods,
        ephemeral_storage=args.ephemeral_storage, labels=parse_labels(args.node_labels),
        taints=parse_taints(args.register_with_taints), cluster_cidr=args.cluster_cidr,
        node_cidr_mask=args.node_cidr_mask_size, node_ip_cidr=args.node_ip_cidr,
        lease_duration=args.lease_duration, lease_renew_interval=args.lease_interval,
        node_status_update_frequency=args.node_status_update_frequency,
        node_status_report_frequency=args.node_status_report_frequency,
        pod_resync_interval=args.sync_frequency, record_events=args.record_events,
        pod_workers=args.pod_workers, heartbeat_workers=args.heartbeat_workers)


def run(args: argparse.Namespace) -> int:
    setup_logging(args)
    try:
        config = config_from_args(args)
    except argparse.ArgumentTypeError as e:
        log.error("%s", e)
        return 2
    return run_async(_main(args, config))


async def _main(args: argparse.Namespace, config) -> int:
    from navarch.client.rest import Client
    from navarch.kubelet.podcidr import CIDRExhausted
    from navarch.kubelet.simnodes import run_sim_nodes

    log.info("effective config: %s", config)
    client = Client.from_kubeconfig(str(args.kubeconfig), user_agent="navarch-sim-nodes")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(run_sim_nodes(client, config, args.stop_after or None), name="sim-nodes")
    stopper = asyncio.create_task(stop.wait(), name="sim-nodes-signal")
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
        else:
            log.info("signal received; stopping the simulated nodes")
        return 0
    except CIDRExhausted as e:
        log.error("%s", e)
        return 1
    finally:
        for t in (task, stopper):
            t.cancel()
        await asyncio.gather(task, stopper, return_exceptions=True)
        await client.close()

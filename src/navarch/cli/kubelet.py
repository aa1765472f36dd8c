"""``navarch kubelet``: the node agent of one real machine, joined to a cluster by a kubeconfig.

It reads the machine (``kubelet/machine.py``), starts the container runtime (host processes by
default) and the kubelet's HTTPS server (logs, exec, attach, port-forward), then runs one ``Kubelet``
through a ``KubeletHost``: register the Node, renew its Lease, post its status, run its pods.
SIGTERM/SIGINT stop the server and the host but leave containers running: the next start adopts
them (upstream's kubelet restarts the same way).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

from navarch.cli.common import add_logging_flags, default_data_dir, run_async, setup_logging, until_signalled
from navarch.cli.sim_nodes import parse_labels, parse_taints

log = logging.getLogger("navarch.kubelet")

RUNTIMES = ("process", "simulated")


@dataclass(frozen=True)
class KubeletOptions:
    """The flags, typed; ``navarch server`` passes the same flags to its local kubelet."""

    kubeconfig: Path
    node_name: str = ""  # "" -> the host name, lowercased
    hostname_override: str = ""
    root_dir: Path = field(default_factory=lambda: default_root_dir())
    address: str = "0.0.0.0"
    port: int = 10250
    runtime: str = "process"
    node_ip: str = ""
    pod_cidr: str = ""
    tls_cert_file: Path | None = None
    tls_private_key_file: Path | None = None
    client_ca_file: Path | None = None
    register_node: bool = True
    max_pods: int = 110
    node_labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Mapping[str, Any], ...] = ()
    eviction_hard: Mapping[str, str] | None = None  # None -> machine.DEFAULT_EVICTION_HARD
    kube_reserved: Mapping[str, str] = field(default_factory=dict)
    system_reserved: Mapping[str, str] = field(default_factory=dict)
    node_status_update_frequency: float = 10.0
    node_status_report_frequency: float = 300.0
    node_lease_duration_seconds: int = 40
    sync_frequency: float = 60.0
    pod_workers: int = 16
    event_qps: float = 50.0
    event_burst: int = 100


def default_root_dir() -> Path:
    """/var/lib/navarch/kubelet as root, else ~/.local/share/navarch/kubelet."""
    return default_data_dir() / "kubelet"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "kubelet", help="run the node agent of this machine (kubelet)",
        description="Register this machine as a Node of the cluster named by --kubeconfig and run the pods "
                    "bound to it as host processes. Capacity, addresses and node info are read from the "
                    "machine; the Lease in kube-node-lease is renewed every quarter of its duration; the "
                    "HTTPS server on --port serves logs, exec, attach and port-forward to the API server. "
                    "Stopping the kubelet leaves its containers running; the next start adopts them.")
    add_flags(p)
    add_logging_flags(p)
    p.set_defaults(func=run)


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", type=Path, required=True, help="kubeconfig of the cluster to join")
    p.add_argument("--node-name", default="",
                   help="name of the Node (default: --hostname-override, else the host name, lowercased)")
    p.add_argument("--hostname-override", default="",
                   help="host name to report (Hostname address, kubernetes.io/hostname label) instead of "
                        "the machine's")
    p.add_argument("--root-dir", type=Path, default=default_root_dir(),
                   help="directory for pod data, logs, runtime state and the serving certificate "
                        "(default: %(default)s)")
    p.add_argument("--address", default="0.0.0.0", help="address the HTTPS server listens on (default: %(default)s)")
    p.add_argument("--port", type=int, default=10250,
                   help="port of the HTTPS server; 0 picks a free one (default: %(default)s)")
    p.add_argument("--runtime", choices=RUNTIMES, default="process",
                   help="container runtime: 'process' runs each container as a host process group; "
                        "'simulated' runs nothing, as sim-nodes do (default: %(default)s)")
    p.add_argument("--node-ip", default="",
                   help="IP address of the node (default: the host name's first non-loopback IPv4 "
                        "address, else the default route's, else 127.0.0.1)")
    p.add_argument("--pod-cidr", default="",
                   help="pod CIDR of this node, when the cluster does not assign one (the process runtime "
                        "shares the host network and does not need one)")
    p.add_argument("--tls-cert-file", type=Path, default=None,
                   help="serving certificate of the HTTPS server (default: a self-signed one under "
                        "ROOT_DIR/pki, as upstream)")
    p.add_argument("--tls-private-key-file", type=Path, default=None, help="key of --tls-cert-file")
    p.add_argument("--client-ca-file", type=Path, default=None,
                   help="CA whose client certificates the HTTPS server accepts (the API server's)")
    p.add_argument("--register-node", default=True, action=argparse.BooleanOptionalAction,
                   help="create the Node if it does not exist (default: on)")
    p.add_argument("--max-pods", type=int, default=110, help="pods capacity of the node (default: %(default)s)")
    p.add_argument("--node-labels", default="", help="extra labels at registration, as key=value,key2=value2")
    p.add_argument("--register-with-taints", default="",
                   help="taints at registration, as key=value:Effect,key2:Effect")
    p.add_argument("--eviction-hard", default=None,
                   help="hard eviction thresholds, e.g. 'memory.available<100Mi,nodefs.available<10%%' "
                        "(default: memory.available<100Mi,nodefs.available<10%%,nodefs.inodesFree<5%%,"
                        "pid.available<10%%); they set the pressure conditions and are held back from "
                        "allocatable")
    p.add_argument("--kube-reserved", default="", help="resources held back for Kubernetes, as cpu=100m,memory=256Mi")
    p.add_argument("--system-reserved", default="", help="resources held back for the system, as cpu=100m,memory=256Mi")
    p.add_argument("--node-status-update-frequency", type=float, default=10.0,
                   help="seconds between node status computations (default: %(default)s)")
    p.add_argument("--node-status-report-frequency", type=float, default=300.0,
                   help="seconds after which an unchanged node status is written anyway (default: %(default)s)")
    p.add_argument("--node-lease-duration-seconds", type=int, default=40,
                   help="leaseDurationSeconds of the node Lease, renewed every quarter of it (default: %(default)s)")
    p.add_argument("--sync-frequency", type=float, default=60.0,
                   help="seconds between periodic re-syncs of each pod (default: %(default)s)")
    p.add_argument("--event-qps", type=float, default=50.0,
                   help="events written per second at most, after --event-burst; 0: no limit (default: %(default)s)")
    p.add_argument("--event-burst", type=int, default=100,
                   help="events written at once before --event-qps applies (default: %(default)s)")
    p.add_argument("--pod-workers", type=int, default=16, help="pod syncs in flight at once (default: %(default)s)")


def parse_eviction(text: str | None) -> dict[str, str] | None:
    """'memory.available<100Mi,nodefs.available<10%' -> {signal: threshold}; upstream's syntax."""
    if text is None:
        return None
    out: dict[str, str] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, sep, value = item.partition("<")
        if not sep or not name.strip() or not value.strip():
            raise argparse.ArgumentTypeError(f"eviction threshold {item!r} is not signal<quantity")
        out[name.strip()] = value.strip()
    return out


def options_from_args(args: argparse.Namespace) -> KubeletOptions:
    """Raises argparse.ArgumentTypeError for malformed lists."""
    if (args.tls_cert_file is None) != (args.tls_private_key_file is None):
        raise argparse.ArgumentTypeError("--tls-cert-file and --tls-private-key-file go together")
    return KubeletOptions(
        kubeconfig=args.kubeconfig, node_name=args.node_name.strip().lower(),
        hostname_override=args.hostname_override.strip().lower(), root_dir=args.root_dir,
        address=args.address, port=args.port, runtime=args.runtime, node_ip=args.node_ip, pod_cidr=args.pod_cidr,
        tls_cert_file=args.tls_cert_file, tls_private_key_file=args.tls_private_key_file,
        client_ca_file=args.client_ca_file, register_node=args.register_node, max_pods=args.max_pods,
        node_labels=parse_labels(args.node_labels), taints=parse_taints(args.register_with_taints),
        eviction_hard=parse_eviction(args.eviction_hard), kube_reserved=parse_labels(args.kube_reserved),
        system_reserved=parse_labels(args.system_reserved),
        node_status_update_frequency=args.node_status_update_frequency,
        node_status_report_frequency=args.node_status_report_frequency,
        node_lease_duration_seconds=args.node_lease_duration_seconds, sync_frequency=args.sync_frequency,
        pod_workers=args.pod_workers, event_qps=args.event_qps, event_burst=args.event_burst)


def kubelet_config(opts: KubeletOptions, machine, *, port: int):
    """The node's ``KubeletConfig`` from the flags and the machine; ValueError for bad reservations."""
    from navarch.kubelet import machine as machinery
    from navarch.kubelet.config import KubeletConfig

    eviction = opts.eviction_hard if opts.eviction_hard is not None else machinery.DEFAULT_EVICTION_HARD
    machinery.validate_eviction_hard(eviction)
    reserved: dict[str, str] = {}
    for source in (opts.kube_reserved, opts.system_reserved):
        for name, value in source.items():
            reserved[name] = str(machinery.parse_quantity(reserved[name]) + machinery.parse_quantity(value)) \
                if name in reserved else value
    return KubeletConfig(
        node_name=opts.node_name or machine.hostname,
        capacity=machinery.capacity(machine, opts.max_pods),
        allocatable=machinery.allocatable(machine, opts.max_pods, eviction_hard=eviction, reserved=reserved),
        node_ips=(machine.internal_ip,), hostname=machine.hostname, pod_cidr=opts.pod_cidr,
        labels=dict(opts.node_labels), taints=tuple(opts.taints), operating_system=machine.operating_system,
        architecture=machine.architecture, node_info=dict(machine.node_info),
        lease_duration=opts.node_lease_duration_seconds,
        lease_renew_interval=opts.node_lease_duration_seconds / 4,
        node_status_update_frequency=opts.node_status_update_frequency,
        node_status_report_frequency=opts.node_status_report_frequency,
        pod_resync_interval=opts.sync_frequency, kubelet_port=port, root_dir=str(opts.root_dir),
        register_node=opts.register_node)


def run(args: argparse.Namespace) -> int:
    setup_logging(args)
    try:
        opts = options_from_args(args)
    except argparse.ArgumentTypeError as e:
        log.error("%s", e)
        return 2
    return run_async(_main(opts))


async def _main(opts: KubeletOptions) -> int:
    try:
        await until_signalled(run_kubelet(opts), "kubelet", "kubelet stopped; containers keep running")
    except (ValueError, OSError, ImportError) as e:
        log.error("kubelet cannot start: %s", e)
        return 1
    return 0


def _spread_directories(root: Path) -> None:
    """The root dir's children (the runtime's, the pods') and every pod's directory each start in a
    block group of their own, away from their parents' churn (``kubelet.topdirs``)."""
    from navarch.kubelet.topdirs import mark_top

    mark_top(str(root))  # before its children are made: a directory's group is chosen at mkdir
    (root / "pods").mkdir(exist_ok=True)
    mark_top(str(root / "pods"))


async def run_kubelet(opts: KubeletOptions, *, on_ready: Callable[[Any], None] | None = None) -> None:
    """The node until cancelled. ``on_ready(kubelet)`` is called once its server listens and the
    host runs (tests use it to find the port)."""
    from navarch.client.rest import Client
    from navarch.kubelet import machine as machinery
    from navarch.kubelet.host import KubeletHost
    from navarch.kubelet.kubelet import Kubelet
    from navarch.machinery.events import EventRecorder

    opts.root_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(_spread_directories, opts.root_dir)
    machine = await asyncio.to_thread(machinery.read_machine, opts.root_dir, node_ip=opts.node_ip,
                                      hostname=opts.hostname_override)
    node_name = opts.node_name or machine.hostname
    eviction = opts.eviction_hard if opts.eviction_hard is not None else machinery.DEFAULT_EVICTION_HARD
    pressure = machinery.PressureMonitor(opts.root_dir, eviction)
    runtime, start_runtime, close_runtime = _runtime(opts, machine)
    stack: list[Callable[[], Awaitable[None]]] = []
    try:
        await start_runtime()
        stack.append(close_runtime)
        server = await _start_server(opts, runtime, node_name, machine.internal_ip)
        stack.append(server.stop)
        config = kubelet_config(opts, machine, port=server.port)
        log.info("effective config: %s", config)
        client = Client.from_kubeconfig(str(opts.kubeconfig), user_agent=f"navarch-kubelet/{node_name}")
        stack.append(client.close)
        recorder = EventRecorder(client, "kubelet", node_name, qps=opts.event_qps, burst=opts.event_burst)
        stack.append(lambda: recorder.stop(timeout=2.0))
        kubelet = Kubelet(config, runtime, client, recorder=recorder, pressure=pressure)
        host = KubeletHost(client, single_node=node_name, pod_workers=opts.pod_workers, heartbeat_workers=2,
                           services=True)
        host.add(kubelet)
        log.info("node %s: %s runtime, kubelet server on %s:%d, InternalIP %s", node_name, opts.runtime,
                 opts.address, server.port, machine.internal_ip)
        host_task = asyncio.create_task(host.run(), name="kubelet-host")
        try:
            if on_ready is not None:
                on_ready(kubelet)
            await host_task
        finally:
            host_task.cancel()
            await asyncio.gather(host_task, return_exceptions=True)
    finally:
        # Reverse order, each bounded, never raising over the cancellation that brought us here.
        for stop in reversed(stack):
            try:
                await asyncio.wait_for(stop(), 10.0)
            except Exception as e:  # noqa: BLE001 - shutdown goes on whatever one part does
                log.warning("error while stopping: %s", f"{type(e).__name__}: {e}")


def _runtime(opts: KubeletOptions, machine):
    """(runtime, start, close). ProcessRuntime keeps its state under ROOT_DIR/runtime so that a new
    kubelet finds (and adopts) the containers the last one started."""

    async def nothing() -> None:
        return None

    if opts.runtime == "simulated":
        from navarch.kubelet.runtimes.simulated import SimulatedRuntime

        runtime = SimulatedRuntime(pod_cidr=opts.pod_cidr)
        return runtime, nothing, nothing
    from navarch.kubelet.runtimes.process import ProcessRuntime

    runtime = ProcessRuntime(str(opts.root_dir / "runtime"), node_ips=(machine.internal_ip,))
    return runtime, runtime.start, runtime.close


async def _start_server(opts: KubeletOptions, runtime, node_name: str, node_ip: str):
    from navarch.kubelet.server import KubeletServer

    cert, key = opts.tls_cert_file, opts.tls_private_key_file
    if cert is None or key is None:
        from navarch.kubelet.server.pki import ensure_serving_cert

        ips = list(dict.fromkeys([node_ip, "127.0.0.1"]))
        cert, key = await asyncio.to_thread(ensure_serving_cert, opts.root_dir / "pki", node_name, ips)
    server = KubeletServer(runtime, host=opts.address, port=opts.port, cert_file=str(cert), key_file=str(key),
                           client_ca_file=str(opts.client_ca_file) if opts.client_ca_file else None)
    await server.start()
    return server

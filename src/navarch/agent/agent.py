"""The agent: join, then keep this machine's kubelet running with the node identity the join earned.

The kubelet is the standalone ``navarch kubelet``, run as a supervised child as ``navarch server``
runs its own (same flags: its kubeconfig, node name, root dir, port, and the cluster CA as the CA of
the clients it accepts, which the API server's kubelet client certificate comes from). The host name
it reports is the node name, so several agents on one machine are distinct topology domains
(``kubernetes.io/hostname``), as k3s's agents are.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path

from navarch.agent.bootstrap import AgentPaths, ensure_node_credentials
from navarch.api import bootstraptoken as bt

log = logging.getLogger("navarch.agent")


@dataclass(frozen=True)
class AgentConfig:
    server: str
    token: bt.JoinToken
    node_name: str
    data_dir: Path
    kubelet_port: int = 10250
    verbosity: int = 0
    kubelet_args: tuple[str, ...] = field(default=())

    @property
    def paths(self) -> AgentPaths:
        return AgentPaths(self.data_dir / "agent")


def kubelet_argv(config: AgentConfig, kubeconfig: Path) -> list[str]:
    paths = config.paths
    verbosity = ["-v", str(config.verbosity)] if config.verbosity else []
    return ["kubelet", "--kubeconfig", str(kubeconfig), "--node-name", config.node_name,
            "--hostname-override", config.node_name, "--root-dir", str(paths.kubelet_root),
            "--client-ca-file", str(paths.ca), "--port", str(config.kubelet_port), *verbosity,
            *config.kubelet_args]


async def run_agent(config: AgentConfig) -> int:
    """Join, run the kubelet until SIGTERM/SIGINT, stop it. Raises ``JoinError`` when the join fails."""
    from navarch.server.supervisor import Supervisor

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    join = asyncio.create_task(ensure_node_credentials(config.server, config.token, config.node_name,
                                                       config.paths), name="agent-join")
    stopped = asyncio.create_task(stop.wait(), name="agent-stop")
    await asyncio.wait({join, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if not join.done():
        join.cancel()
        await asyncio.gather(join, return_exceptions=True)
        return 0
    stopped.cancel()
    kubeconfig = join.result()
    sup = Supervisor()
    sup.add("kubelet", *kubelet_argv(config, kubeconfig))
    await sup.start()
    log.info("node %s joined %s; kubelet running (port %d, root dir %s)", config.node_name, config.server,
             config.kubelet_port, config.paths.kubelet_root)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await sup.stop()
    return 0

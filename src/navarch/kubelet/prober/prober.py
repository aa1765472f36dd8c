"""One probe of one container: pick the handler, run it, tell the user (upstream ``prober.go``).

Events are upstream's, recorded against the container on every probe that does not pass:
- ``Warning Unhealthy "<Type> probe failed: <output>"`` for a failure;
- ``Warning ProbeWarning "<Type> probe warning: <output>"`` for a success with a warning;
- ``Warning Unhealthy "<Type> probe errored and resulted in unknown state: <error>"`` when the
  probe could not be run three times in a row; such a result is thrown away (``None``), neither
  success nor failure.
"""

from __future__ import annotations

import enum
import logging
from typing import Any, Callable, Mapping

import navarch
from navarch.kubelet.prober import execprobe, grpcprobe, httpprobe, tcpprobe
from navarch.kubelet.prober.probe import Outcome, ProbeError, Result, resolve_port, user_agent

log = logging.getLogger(__name__)

MAX_RETRIES = 3
DEFAULT_TIMEOUT = 1
UNHEALTHY = "Unhealthy"
PROBE_WARNING = "ProbeWarning"

# (pod, event type, reason, message, container name)
EmitEvent = Callable[[Mapping[str, Any], str, str, str, str], None]


class ProbeType(enum.Enum):
    LIVENESS = "Liveness"
    READINESS = "Readiness"
    STARTUP = "Startup"

    @property
    def field(self) -> str:
        """The container field holding this probe (``livenessProbe``)."""
        return self.value.lower() + "Probe"


class Prober:
    """Runs probes against one runtime (for exec) and the network (everything else)."""

    def __init__(self, runtime: execprobe.ExecRunner | None, *, emit: EmitEvent | None = None,
                 version: tuple[int, ...] = navarch.KUBE_VERSION) -> None:
        self.runtime = runtime
        self.emit = emit
        self.agent = user_agent(version)

    async def probe(self, probe_type: ProbeType, pod: Mapping[str, Any], pod_ip: str,
                    container: Mapping[str, Any], container_id: str) -> Result | None:
        """SUCCESS or FAILURE, or None when the probe errored (the caller keeps its old result)."""
        spec = container.get(probe_type.field)
        if not spec:
            return Result.SUCCESS
        name = str(container.get("name", ""))
        error: ProbeError | None = None
        for _ in range(MAX_RETRIES):
            try:
                outcome = await self.run(spec, pod_ip, container, container_id)
                break
            except ProbeError as e:
                error = e
        else:
            log.info("%s probe of %s errored: %s", probe_type.value, _label(pod, name), error)
            self._event(pod, UNHEALTHY, f"{probe_type.value} probe errored and resulted in "
                                        f"{Result.UNKNOWN.value} state: {error}", name)
            return None
        if outcome.result is Result.FAILURE:
            log.info("%s probe of %s failed: %s", probe_type.value, _label(pod, name), outcome.output)
            self._event(pod, UNHEALTHY, f"{probe_type.value} probe failed: {outcome.output}", name)
            return Result.FAILURE
        if outcome.result is Result.WARNING:
            self._event(pod, PROBE_WARNING, f"{probe_type.value} probe warning: {outcome.output}", name)
        return Result.SUCCESS

    async def run(self, spec: Mapping[str, Any], pod_ip: str, container: Mapping[str, Any],
                  container_id: str) -> Outcome:
        """The handler's verdict; raises ``ProbeError`` when the probe cannot be run."""
        timeout = float(spec.get("timeoutSeconds") or DEFAULT_TIMEOUT)
        if spec.get("exec") is not None:
            if self.runtime is None:
                raise ProbeError("exec probes need a container runtime")
            command = list((spec["exec"] or {}).get("command") or [])
            return await execprobe.probe_exec(self.runtime, container_id, command, timeout)
        if spec.get("httpGet") is not None:
            url, headers = httpprobe.build_request(spec["httpGet"], container, pod_ip, self.agent)
            return await httpprobe.probe_http(url, headers, timeout)
        if spec.get("tcpSocket") is not None:
            action = spec["tcpSocket"]
            host = str(action.get("host") or pod_ip)
            if not host:
                raise ProbeError("the pod has no IP address yet")
            return await tcpprobe.probe_tcp(host, resolve_port(action.get("port"), container), timeout)
        if spec.get("grpc") is not None:
            action = spec["grpc"]
            if not pod_ip:
                raise ProbeError("the pod has no IP address yet")
            port = resolve_port(action.get("port"), {})
            return await grpcprobe.probe_grpc(pod_ip, port, str(action.get("service") or ""), timeout, self.agent)
        raise ProbeError(f"missing probe handler for {container.get('name', '')}")

    def _event(self, pod: Mapping[str, Any], reason: str, message: str, container: str) -> None:
        if self.emit is not None:
            self.emit(pod, "Warning", reason, message, container)


def _label(pod: Mapping[str, Any], container: str) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}:{container}"

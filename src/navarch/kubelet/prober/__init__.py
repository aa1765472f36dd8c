"""Container probes: liveness, readiness and startup, as upstream's kubelet runs them.

- ``probe``: outcomes, errors and the formatting shared by the handlers;
- ``execprobe``, ``httpprobe``, ``tcpprobe``, ``grpcprobe``: one handler each (exec goes through
  the runtime's ``exec_sync``; the others connect to the pod IP from the kubelet's network);
- ``prober``: runs one probe of one container and records upstream's ``Unhealthy`` events;
- ``worker``: the periodic loop of one probe of one container, with its timing and thresholds;
- ``results``: the judged result per container instance;
- ``manager``: ``ProbeManager``, the node's workers, driven by the pod workers.

Belongs to the kubelet component: imports ``navarch.kubelet.runtimes`` and ``navarch.machinery``
(the clock), never another component.
"""

from navarch.kubelet.prober.manager import ProbeManager
from navarch.kubelet.prober.probe import Outcome, ProbeError, Result
from navarch.kubelet.prober.prober import Prober, ProbeType

__all__ = ["Outcome", "ProbeError", "ProbeManager", "ProbeType", "Prober", "Result"]

"""The kubelet's HTTPS server: ``/healthz``, ``/pods``, ``/containerLogs``, ``/exec``, ``/attach`` and
``/portforward``, reached by the API server's proxies (``kubectl logs/exec/attach/port-forward/cp``).

Uses only the runtime (``navarch.kubelet.runtimes.interface``) and ``navarch.api``; knows nothing of
the kubelet's pod workers.
"""

from navarch.kubelet.server.server import KubeletServer

__all__ = ["KubeletServer"]

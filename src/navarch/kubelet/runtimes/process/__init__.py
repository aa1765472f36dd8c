"""The ``process`` runtime: containers are host process groups, for a node without containerd.

Each container is run by a detached shim (``shim.py``) that survives the kubelet, so a restarted
kubelet adopts running pods instead of restarting them. Shims are forked by a long-lived zygote per
root dir (``zygote.py``) that has them pre-imported, so a container start costs a fork, not a
Python start-up. As root, containers get their own mount
namespace (``mounts.py``) and a cgroup enforcing cpu and memory limits (``cgroups.py``). Logs are
CRI-format files (``crilog.py``); the on-disk layout is in ``state.py``; see docs/runtime-process.md.

The zygote and the shim import only the standard library (not even asyncio) and their sibling
modules, never the kubelet core: the smaller the zygote, the cheaper each fork.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from navarch.kubelet.runtimes.process.runtime import ProcessRuntime

__all__ = ["ProcessRuntime"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that ``python -m ...process.zygote`` does not load the runtime.
    if name == "ProcessRuntime":
        from navarch.kubelet.runtimes.process.runtime import ProcessRuntime
        return ProcessRuntime
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

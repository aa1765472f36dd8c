"""Pod volumes on the node: emptyDir, hostPath, configMap, secret, downwardAPI and projected.

``VolumeManager`` (manager.py) is what the kubelet uses; each plugin is one module named after its
volume source, exposing ``PLUGIN`` (plugin.py has the shape). Object-backed volumes are written with
upstream's atomic layout (atomicwriter.py: ``..data`` symlink swapped on update). Mounts (tmpfs for
memory-backed volumes) are made only when the kubelet is root (``isolated``); without root every
volume is a plain directory under the kubelet's root dir.

May import ``navarch.client`` (errors), ``navarch.kubelet.envvars`` (downward API, object helpers)
and ``navarch.kubelet.runtimes.interface`` (Mount, CreateContainerConfigError).
"""

from navarch.kubelet.volumes.manager import VolumeManager
from navarch.kubelet.volumes.plugin import VolumeError

__all__ = ["VolumeError", "VolumeManager"]

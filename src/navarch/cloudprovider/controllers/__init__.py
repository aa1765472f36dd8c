"""The cloud controller manager's loops, each a ``QueueController`` holding a cloud provider.

They share the controller manager's base (work queue, workers, informers) and differ only in that
their context carries the provider and the cluster name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from navarch.controllers.base import ControllerContext


@dataclass
class CloudContext(ControllerContext):
    cloud: Any = None  # a navarch.cloudprovider.interface.Interface
    cluster_name: str = "kubernetes"

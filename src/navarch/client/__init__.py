"""The async Kubernetes REST client every navarch component uses to reach the cluster.

The API is the only bus (DESIGN.md 1.1): the scheduler, controllers and node agents hold no store
handle, only a ``Client`` built from a kubeconfig or the in-cluster service account. This layer may
import ``navarch.api`` (pure data) and nothing else of navarch's; ``navarch.machinery`` builds the
caches and queues on top of it.
"""

"""navarch: the Kubernetes architecture, rebuilt in Python."""

__version__ = "0.1.0"
# The Kubernetes API version whose wire contract navarch serves.
KUBE_VERSION = (1, 33, 0)

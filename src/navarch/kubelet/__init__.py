"""The node agent: one kubelet core for real and simulated nodes.

A ``Kubelet`` is one node: it registers its Node, renews its Lease in ``kube-node-lease``, reports
node status, and drives every pod bound to it through a container runtime (``runtimes/``: the
CRI-shaped interface and its implementations). A ``KubeletHost`` runs one or many kubelets in one
process over one client, one pod informer and bounded worker pools, so the same code serves the
local node of ``navarch server`` and the thousands of nodes of ``navarch sim-nodes``.

Talks to the cluster only through the API (``navarch.client``, ``navarch.machinery``); never imports
another component or ``navarch.storage``.
"""

"""The cloud controller manager: what a cluster asks of the infrastructure it runs on.

``interface`` is upstream's ``cloudprovider.Interface`` (load balancers, instances, zones, routes) as
Protocols; ``providers`` names the implementations (only ``stub`` for now, a cloud with nothing
behind it that hands out load-balancer IPs from a local pool); ``controllers/`` are the loops that
use a provider (cloud-node, cloud-node-lifecycle, service-lb, route) and ``manager`` runs them under
leader election. Like every component it talks to the cluster only through the API: it may import
``client``, ``machinery`` and the shared controller base, never ``apiserver`` or ``storage``.
"""

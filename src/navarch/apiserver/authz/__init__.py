"""Authorization: may this user do this? Upstream's pipeline step after authentication.

- ``attributes``: a request's verb, group, resource, subresource, namespace, name, or path.
- ``authorizer``: the chain (system:masters, then ``--authorization-mode``: Node, RBAC, ...).
- ``rbac`` (+ ``policysource``, ``rules``): Roles and bindings from the watch cache, indexed by
  subject, decisions cached until any RBAC object changes.
- ``node`` (+ ``nodegraph``): kubelets limited to their node and what its pods use.
- ``impersonation``, ``gate``: ``Impersonate-*`` headers, then the decision, 403 on denial
  (``messages`` words it as upstream).
- ``escalation``: no granting of permissions one does not hold (an admission plugin).
- ``bootstrappolicy``, ``reconcile``: the default roles and bindings, created on start.

This package reads the API server's watch cache and store; it imports nothing from other
components.
"""

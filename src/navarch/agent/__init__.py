"""``navarch agent``: join a cluster with a token, then run this machine's kubelet with the identity
the join earned.

``bootstrap.py`` is the TLS bootstrap (trust the CA the token names, get a node client certificate
through a CertificateSigningRequest); ``agent.py`` composes it with the kubelet, run as a supervised
child exactly as ``navarch server`` runs its own. May import ``api``, ``client`` and ``server``'s
helpers for kubeconfigs and child processes; never the API server or the store.
"""

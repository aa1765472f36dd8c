"""The certificates controllers: ``csrapproving`` auto-approves kubelets' client certificate requests,
``csrsigning`` signs approved requests of the built-in signers with the cluster CA, ``csrcleaner``
removes old requests (upstream's ``pkg/controller/certificates``). ``csr.py`` holds what they share:
reading a request, its conditions and upstream's checks of what each signer may sign.
"""

"""kube-scheduler, rebuilt: place every unscheduled pod on a node, through the API only.

``framework/`` holds the extension-point protocols, ``Status``, ``CycleState``, ``NodeInfo``, the
plugin registry, profiles and the runtime that runs one scheduling cycle; ``plugins/`` one module
per upstream plugin; ``queue`` the active/backoff/unschedulable queues; ``cache`` node infos and
assumed pods; ``scheduler`` the loop (informers, scheduling cycle, asynchronous binding cycle);
``app`` the typed config and ``run_scheduler`` that ``navarch scheduler`` and ``navarch server`` use.

May import ``navarch.api``, ``navarch.client`` and ``navarch.machinery``; never another component,
never ``navarch.storage``.
"""

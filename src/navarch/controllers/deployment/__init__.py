"""The Deployment controller (upstream ``pkg/controller/deployment``), one module per concern:

- ``controller``: handlers, claiming ReplicaSets, and the dispatch of one sync;
- ``sync``: the new ReplicaSet (hash, revision), scaling (proportional mid-rollout), status;
- ``rolling`` and ``recreate``: the two strategies;
- ``progress``: the Progressing condition, the progress deadline, pause and resume;
- ``history``: pruning old ReplicaSets to ``revisionHistoryLimit``;
- ``rollback``: the deprecated rollback annotation (``kubectl rollout undo`` needs none of it);
- ``util``: the pure arithmetic and bookkeeping the others share.
"""

from navarch.controllers.deployment.controller import DeploymentController

__all__ = ["DeploymentController"]

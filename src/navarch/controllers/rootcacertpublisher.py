"""The root CA certificate publisher: ConfigMap ``kube-root-ca.crt`` with the cluster CA in every namespace.

Pods verify the API server with it (the service-account volume projects its ``ca.crt``), so it must
exist in each active namespace and be put back when someone deletes or edits it. As upstream
(pkg/controller/certificates/rootcacertpublisher), keys are namespace names; the CA comes from
``--root-ca-file``, else from the controller manager's own kubeconfig.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from navarch.client.errors import (
    ApiError,
    is_already_exists,
    is_forbidden,
    is_not_found,
)
from navarch.controllers.base import ControllerContext, QueueController
from navarch.machinery.cache import final_state

CONFIGMAP_NAME = "kube-root-ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
               "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
               "distributions of Kubernetes clusters.")


class RootCACertPublisher(QueueController):
    name: ClassVar[str] = "root-ca-cert-publisher"
    workers: ClassVar[int] = 1

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.root_ca = _root_ca(ctx)
        self.namespaces = self.factory.lister("namespaces")
        self.configmaps = self.factory.lister("configmaps")
        self.factory.informer("namespaces").add_event_handler(
            on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new))
        self.factory.informer("configmaps").add_event_handler(
            on_update=lambda _old, new: self._configmap_changed(new), on_delete=self._configmap_changed)

    def _configmap_changed(self, obj: Any) -> None:
        meta = final_state(obj).get("metadata") or {}
        if meta.get("name") == CONFIGMAP_NAME and meta.get("namespace"):
            self.queue.add(meta["namespace"])

    async def sync(self, key: str) -> None:
        if not self.root_ca:
            return
        ns = self.namespaces.get(None, key)
        if ns is None or (ns.get("metadata") or {}).get("deletionTimestamp"):
            return
        data = {"ca.crt": self.root_ca}
        cm = self.configmaps.get(key, CONFIGMAP_NAME)
        try:
            if cm is None:
                await self.client.create("configmaps", {
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": CONFIGMAP_NAME, "namespace": key,
                                 "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}},
                    "data": data}, key)
                self.log.info("published %s in namespace %s", CONFIGMAP_NAME, key)
                return
            annotations = (cm.get("metadata") or {}).get("annotations") or {}
            if cm.get("data") == data and annotations.get(DESCRIPTION_ANNOTATION):
                return
            body = dict(cm)
            body["metadata"] = {**cm["metadata"], "annotations": {**annotations, DESCRIPTION_ANNOTATION: DESCRIPTION}}
            body["data"] = data
            await self.client.update("configmaps", body, key)
            self.log.info("restored %s in namespace %s", CONFIGMAP_NAME, key)
        except ApiError as e:
            # The namespace went away or began terminating: nothing to publish there.
            if is_not_found(e) or is_forbidden(e) or (cm is None and is_already_exists(e)):
                return
            raise


def _root_ca(ctx: ControllerContext) -> str:
    path = ctx.options.get("root-ca-file")
    if path:
        return Path(path).read_text()
    ca = getattr(ctx.client.config, "ca_data", None)
    return ca.decode() if ca else ""

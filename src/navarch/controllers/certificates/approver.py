"""The CSR approving controller (upstream's ``csrapproving``, ``pkg/controller/certificates/approver``).

It approves only kubelet client certificates (signer ``kubernetes.io/kube-apiserver-client-kubelet``)
whose request passes ``validate_kubelet_client`` and whose requester may create the matching
``certificatesigningrequests`` subresource, asked through a SubjectAccessReview as upstream does:
``selfnodeclient`` when a node renews its own certificate (requester = the CN), else ``nodeclient``
(a bootstrap token asking for a new node). RBAC's default policy grants ``nodeclient`` to
``system:bootstrappers`` and ``selfnodeclient`` to ``system:nodes``; before RBAC is enabled every
authenticated user may approve requests by hand anyway, so the review's "allowed" loses nothing.

Everything else is left to ``kubectl certificate approve/deny``. A request already approved, denied
or issued is never touched again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from navarch.api import jsoncopy
from navarch.controllers.base import ControllerContext, QueueController
from navarch.controllers.certificates import csr as c

SUBJECT_ACCESS_REVIEWS = "authorization.k8s.io/v1/subjectaccessreviews"


class Recognizer:
    """One kind of request the approver knows, the permission that approves it, and its message."""

    def __init__(self, subresource: str, message: str, self_request: bool) -> None:
        self.subresource = subresource
        self.message = message
        self.self_request = self_request

    def recognize(self, obj: Mapping[str, Any], req: Any) -> bool:
        if c.spec(obj).get("signerName") != c.KUBE_APISERVER_CLIENT_KUBELET:
            return False
        try:
            c.validate_kubelet_client(req, c.usages(obj))
        except c.InvalidRequest:
            return False
        return not self.self_request or c.spec(obj).get("username") == c.subject_cn(req)


RECOGNIZERS = (
    Recognizer("selfnodeclient", "Auto approving self kubelet client certificate after SubjectAccessReview.", True),
    Recognizer("nodeclient", "Auto approving kubelet client certificate after SubjectAccessReview.", False),
)


def access_review(obj: Mapping[str, Any], subresource: str) -> dict[str, Any]:
    """May the requester create ``certificatesigningrequests/<subresource>``?"""
    s = c.spec(obj)
    spec: dict[str, Any] = {"user": s.get("username", ""), "groups": list(s.get("groups") or []),
                            "resourceAttributes": {"group": "certificates.k8s.io", "resource": "certificatesigningrequests",
                                                   "verb": "create", "subresource": subresource}}
    if s.get("uid"):
        spec["uid"] = s["uid"]
    if s.get("extra"):
        spec["extra"] = s["extra"]
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "metadata": {}, "spec": spec}


def approved(obj: Mapping[str, Any], message: str) -> dict[str, Any]:
    """A copy of ``obj`` with the Approved condition the approval subresource takes."""
    out = jsoncopy.deep_copy(dict(obj))
    status = out.setdefault("status", {})
    status.setdefault("conditions", []).append(
        {"type": "Approved", "status": "True", "reason": "AutoApproved", "message": message})
    return out


class NotApproved(Exception):
    """Recognised, but the requester lacks the permission; retried with backoff (RBAC may change)."""


class CSRApprovingController(QueueController):
    name: ClassVar[str] = "csrapproving"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.csrs = self.factory.lister(c.CSRS)
        self.factory.informer(c.CSRS).add_event_handler(self.enqueue, lambda old, new: self.enqueue(new))

    async def sync(self, key: str) -> None:
        obj = self.csrs.get(None, key)
        if obj is None or c.is_issued(obj) or c.is_approved(obj) or c.is_denied(obj):
            return
        if c.spec(obj).get("signerName") != c.KUBE_APISERVER_CLIENT_KUBELET:
            return
        try:
            req = c.parse_request(obj)
        except c.InvalidRequest as e:
            self.log.info("csr %s: %s", key, e)
            return
        tried = []
        for r in RECOGNIZERS:
            if not r.recognize(obj, req):
                continue
            tried.append(r.subresource)
            review = await self.client.create(SUBJECT_ACCESS_REVIEWS, access_review(obj, r.subresource))
            if (review.get("status") or {}).get("allowed"):
                await self.client.update(c.CSRS, approved(obj, r.message), subresource="approval")
                self.log.info("approved csr %s of %s (%s)", key, c.spec(obj).get("username", ""), r.subresource)
                return
        if tried:
            raise NotApproved(f"recognized csr {key!r} as {tried} but subject access review was not approved")

from typing import Any

import pytest

from navarch.api.errors import StatusError
from navarch.api.resources import REGISTRY
from navarch.apiserver.admission import Attributes, node_restriction

NODE = {"username": "system:node:n1", "groups": ["system:nodes", "system:authenticated"]}


async def _lookup(*_: Any) -> None:
    return None


def attrs(plural: str, op: str, obj: dict[str, Any] | None, *, group: str = "", sub: str | None = None,
          old: dict[str, Any] | None = None, user: Any = NODE) -> Attributes:
    version = "v1"
    r = REGISTRY.get(group, version, plural)
    name = ((obj or old or {}).get("metadata") or {}).get("name", "")
    return Attributes(op, r, sub, "ns" if r.namespaced else None, name, obj, old, user, False, _lookup)


def pod(node: str | None, mirror: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p", "namespace": "ns"}
    if mirror:
        meta["annotations"] = {"kubernetes.io/config.mirror": "x"}
    return {"metadata": meta, "spec": {"nodeName": node} if node else {}}


async def _refused(a: Attributes) -> str:
    with pytest.raises(StatusError) as e:
        await node_restriction.validate(a)
    assert e.value.code == 403
    return e.value.message


async def test_pods():
    await node_restriction.validate(attrs("pods", "CREATE", pod("n1", mirror=True)))
    assert await _refused(attrs("pods", "CREATE", pod("n1"))) == (
        'pods "p" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "n1" can only '
        'create mirror pods')
    assert "can only create pods with spec.nodeName set to itself" in await _refused(
        attrs("pods", "CREATE", pod("n2", mirror=True)))
    await node_restriction.validate(attrs("pods", "UPDATE", pod("n1"), sub="status", old=pod("n1")))
    assert "can only update pod status for pods with spec.nodeName set to itself" in await _refused(
        attrs("pods", "UPDATE", pod("n2"), sub="status", old=pod("n2")))
    # anyone but a node passes
    await node_restriction.validate(attrs("pods", "CREATE", pod(None), user={"username": "jane", "groups": []}))


async def test_nodes_and_leases():
    mine = {"metadata": {"name": "n1", "labels": {}}, "spec": {}}
    await node_restriction.validate(attrs("nodes", "CREATE", mine))
    other = {"metadata": {"name": "n2"}, "spec": {}}
    assert await _refused(attrs("nodes", "UPDATE", other, old=other)) == (
        'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"')
    tainted = {"metadata": {"name": "n1"}, "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}
    assert "is not allowed to modify taints" in await _refused(attrs("nodes", "UPDATE", mine, old=tainted))
    labelled = {"metadata": {"name": "n1", "labels": {"node-restriction.kubernetes.io/x": "y"}}, "spec": {}}
    assert "not allowed to set the following labels: node-restriction.kubernetes.io/x" in await _refused(
        attrs("nodes", "CREATE", labelled))
    lease = {"metadata": {"name": "n2", "namespace": "kube-node-lease"}}
    assert "can only access node lease with the same name" in await _refused(
        attrs("leases", "CREATE", lease, group="coordination.k8s.io"))

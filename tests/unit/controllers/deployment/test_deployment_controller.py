"""Deployment syncs on a pre-filled cache with a recording client: creation, a rollout step, scaling,
pause and undo."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any, Mapping

from navarch.controllers.deployment import DeploymentController, util
from navarch.machinery.clock import FakeClock
from tests.unit.controllers.workload_fakes import RecordingClient, make_context

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


class Client(RecordingClient):
    """Adds PUT, answering with the body as a server would (a new resourceVersion)."""

    async def update(self, res: Any, body: Mapping[str, Any], namespace: str | None = None,
                     **kw: Any) -> dict[str, Any]:
        out = copy.deepcopy(dict(body))
        out["metadata"]["resourceVersion"] = str(int(out["metadata"].get("resourceVersion") or 0) + 1)
        self.calls.append(("update", self._plural(res), out["metadata"]["name"], out))
        return out

    async def patch(self, res: Any, name: str, body: Any, patch_type: str = "merge", namespace: str | None = None,
                    subresource: str | None = None, **kw: Any) -> dict[str, Any]:
        """Merges metadata (annotations, adoption's ownerReferences) into a known object."""
        await super().patch(res, name, body, patch_type, namespace, subresource, **kw)
        out = copy.deepcopy(self.objects.get((self._plural(res), namespace or "", name))
                            or {"metadata": {"name": name, "namespace": namespace}})
        meta = out["metadata"]
        patch_meta = body.get("metadata") or {}
        if "ownerReferences" in patch_meta:
            meta["ownerReferences"] = [r for r in patch_meta["ownerReferences"] if "$patch" not in r]
        meta["annotations"] = {**(meta.get("annotations") or {}), **(patch_meta.get("annotations") or {})}
        meta["resourceVersion"] = "99"
        return out

    async def update_status(self, res: Any, body: Mapping[str, Any], namespace: str | None = None,
                            **kw: Any) -> dict[str, Any]:
        out = await super().update_status(res, body, namespace, **kw)
        out["metadata"]["resourceVersion"] = str(int(out["metadata"].get("resourceVersion") or 0) + 1)
        return out


def make_d(replicas: int = 5, image: str = "busybox", **spec: Any) -> dict[str, Any]:
    template = copy.deepcopy(TEMPLATE)
    template["spec"]["containers"][0]["image"] = image
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "uid": "uid-web", "generation": 1, "resourceVersion": "7"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": template,
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                     "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600, **spec},
            "status": {}}


def make_rs(d: Mapping[str, Any], replicas: int, revision: int, *, image: str | None = None,
            desired: int | None = None, created: str = "2025-01-01T00:00:00Z") -> dict[str, Any]:
    template = copy.deepcopy(d["spec"]["template"])
    if image is not None:
        template["spec"]["containers"][0]["image"] = image
    h = util.compute_hash(template)
    template["metadata"]["labels"][util.HASH_LABEL] = h
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"web-{h}", "namespace": "ns", "uid": f"uid-{h}", "creationTimestamp": created,
                         "resourceVersion": "3", "generation": 1, "labels": dict(template["metadata"]["labels"]),
                         "annotations": {util.REVISION: str(revision), util.DESIRED_REPLICAS: str(desired or replicas),
                                         util.MAX_REPLICAS: str((desired or replicas) + 2)},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                              "uid": "uid-web", "controller": True}]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web", util.HASH_LABEL: h}},
                     "template": template},
            "status": {"replicas": replicas, "availableReplicas": replicas, "readyReplicas": replicas,
                       "observedGeneration": 1}}


def setup(d: dict[str, Any], *rss: dict[str, Any]) -> tuple[DeploymentController, Client, Any]:
    clock = FakeClock(NOW)
    ctx, _, events = make_context(clock)
    client = Client()
    ctx.client = client  # type: ignore[assignment]
    c = DeploymentController(ctx)
    c.factory.informer("apps/v1/deployments").indexer.add(d)
    for rs in rss:
        c.factory.informer("apps/v1/replicasets").indexer.add(rs)
    return c, client, events


async def test_new_deployment_creates_its_replicaset() -> None:
    d = make_d()
    c, client, events = setup(d)
    await c.sync("ns/web")
    ((name, rs),) = client.writes("create", "replicasets")
    h = util.compute_hash(d["spec"]["template"])
    assert name == f"web-{h}"
    assert rs["spec"]["replicas"] == 5
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": h}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", "pod-template-hash": h}
    assert rs["metadata"]["annotations"] == {util.REVISION: "1", util.DESIRED_REPLICAS: "5", util.MAX_REPLICAS: "7"}
    assert ("Normal", "ScalingReplicaSet", f"Scaled up replica set web-{h} from 0 to 5") in events.events
    # The revision annotation goes onto the Deployment; status records the new ReplicaSet.
    (patch,) = [b for n, b in client.writes("patch", "deployments")]
    assert patch == {"metadata": {"annotations": {util.REVISION: "1"}}}
    status = client.writes("update/status", "deployments")[0][1]["status"]
    assert status["conditions"][0]["reason"] == "NewReplicaSetCreated"
    assert status["conditions"][0]["message"] == f'Created new replica set "web-{h}"'


async def test_template_change_starts_a_bounded_rollout() -> None:
    d = make_d(image="busybox:1.36")
    old = make_rs(d, 5, 1, image="busybox")
    c, client, events = setup(d, old)
    await c.sync("ns/web")
    ((_, new),) = client.writes("create", "replicasets")
    assert new["spec"]["replicas"] == 2  # maxSurge 25% of 5, rounded up
    assert new["metadata"]["annotations"][util.REVISION] == "2"
    # maxUnavailable 1: one old pod may go at once; the rest wait for new pods to become available.
    ((name, old_update),) = client.writes("update", "replicasets")
    assert (name, old_update["spec"]["replicas"]) == (old["metadata"]["name"], 4)
    assert ("Normal", "ScalingReplicaSet", f"Scaled down replica set {name} from 5 to 4") in events.events


async def test_scaling_event_resizes_the_only_active_replicaset() -> None:
    d = make_d(8)
    rs = make_rs(d, 5, 1, desired=5)
    c, client, events = setup(d, rs)
    await c.sync("ns/web")
    ((_, updated),) = client.writes("update", "replicasets")
    assert updated["spec"]["replicas"] == 8
    assert updated["metadata"]["annotations"][util.DESIRED_REPLICAS] == "8"
    assert updated["metadata"]["annotations"][util.MAX_REPLICAS] == "10"
    assert ("Normal", "ScalingReplicaSet", f"Scaled up replica set {rs['metadata']['name']} from 5 to 8") in events.events


async def test_paused_deployment_records_condition_and_does_not_roll() -> None:
    d = make_d(image="busybox:1.36", paused=True)
    old = make_rs(d, 5, 1, image="busybox")
    c, client, _ = setup(d, old)
    await c.sync("ns/web")
    assert not client.writes("create", "replicasets")
    status = client.writes("update/status", "deployments")[0][1]["status"]
    cond = util.get_condition(status, "Progressing")
    assert cond is not None and (cond["status"], cond["reason"], cond["message"]) == (
        "Unknown", "DeploymentPaused", "Deployment is paused")


async def test_undo_moves_the_old_replicaset_to_a_new_revision() -> None:
    d = make_d(image="busybox")  # kubectl rollout undo patched the old template back
    back = make_rs(d, 0, 1, created="2025-01-01T00:00:00Z")
    current = make_rs(d, 5, 2, image="busybox:1.36", created="2025-01-01T01:00:00Z")
    c, client, _ = setup(d, back, current)
    await c.sync("ns/web")
    (name, updated), (_, scaled) = client.writes("update", "replicasets")
    assert name == back["metadata"]["name"]
    assert scaled["spec"]["replicas"] == 2 and scaled["metadata"]["annotations"][util.REVISION] == "3"
    assert updated["metadata"]["annotations"][util.REVISION] == "3"
    assert updated["metadata"]["annotations"][util.REVISION_HISTORY] == "1"
    assert not client.writes("create", "replicasets")


async def test_adopts_orphan_replicasets_and_warns_on_empty_selector() -> None:
    d = make_d()
    orphan = make_rs(d, 5, 1)
    orphan["metadata"]["ownerReferences"] = []
    c, client, events = setup(d, orphan)
    client.objects[("deployments", "ns", "web")] = d
    client.objects[("replicasets", "ns", orphan["metadata"]["name"])] = orphan
    await c.sync("ns/web")
    (patch,) = [b for n, b in client.writes("patch", "replicasets")]
    assert patch["metadata"]["ownerReferences"][0]["uid"] == "uid-web"

    everything = make_d()
    everything["spec"]["selector"] = {}
    c2, client2, events2 = setup(everything)
    await c2.sync("ns/web")
    assert events2.reasons() == ["SelectingAll"]
    assert not client2.writes("create", "replicasets")

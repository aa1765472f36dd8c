"""The ReplicaSet, ReplicationController and Deployment controllers against a real API server, driven by
kubectl 1.33. No scheduler or kubelet exists yet: ``FakeKubelet`` binds pods to a node and reports them
Running and Ready through ``pods/status`` (and finishes graceful deletions), except pods whose image
contains ``never-ready``.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator

import pytest

from navarch.client.errors import ApiError, is_not_found
from navarch.client.rest import Client
from navarch.controllers.base import ControllerContext
from navarch.controllers.deployment import DeploymentController
from navarch.controllers.replicaset import ReplicaSetController, ReplicationControllerController
from navarch.machinery.events import EventRecorder, timestamp
from navarch.machinery.factory import SharedInformerFactory
from navarch.machinery.reflector import ReflectorOptions
from tests.clients import kubectl_path
from tests.navarch_process import NO_SERVICE_ACCOUNTS, Kubectl, NavarchServer, free_port, remove_tree

FAST = ReflectorOptions(backoff_initial=0.1, backoff_max=0.5)
NODE = "fake-node-1"


@pytest.fixture(scope="module")
def apiserver() -> Iterator[NavarchServer]:
    """The API server alone: if ``navarch server`` ever runs its own controllers, they must not race ours."""
    root = Path(tempfile.mkdtemp(prefix="navarch-deploy-it-"))
    srv = NavarchServer(root / "data", free_port(), [NO_SERVICE_ACCOUNTS], command="apiserver")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        remove_tree(root)


@pytest.fixture(scope="module")
def kubectl(apiserver: NavarchServer) -> Kubectl:
    if kubectl_path("1.33") is None:
        pytest.skip("kubectl 1.33 is not installed")
    return Kubectl("1.33", apiserver.kubeconfig)


class FakeKubelet:
    """Plays every node: binds unscheduled pods, marks them Running+Ready after ``delay``, and
    completes graceful deletions."""

    def __init__(self, client: Client, factory: SharedInformerFactory, delay: float = 0.2) -> None:
        self.client = client
        self.delay = delay
        self.pods = factory.lister("v1/pods")
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.busy: set[str] = set()
        self.unbindable: set[str] = set()
        inf = factory.informer("v1/pods")
        inf.add_event_handler(lambda o: self._add(o), lambda old, new: self._add(new), None)

    def _add(self, obj: Any) -> None:
        meta = obj["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        if key not in self.busy:
            self.busy.add(key)
            self.queue.put_nowait(key)

    async def run(self) -> None:
        while True:
            key = await self.queue.get()
            asyncio.create_task(self._handle(key))

    async def _handle(self, key: str) -> None:
        try:
            ns, name = key.split("/", 1)
            pod = self.pods.get(ns, name)
            if pod is None:
                return
            if pod["metadata"].get("deletionTimestamp"):
                await asyncio.sleep(self.delay)
                await self.client.delete("v1/pods", name, ns, grace_period_seconds=0)
            elif not self._bound(pod):
                try:
                    await self.client.create_subresource("v1/pods", name, "binding", {
                        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "namespace": ns},
                        "target": {"apiVersion": "v1", "kind": "Node", "name": NODE}}, ns)
                except ApiError as e:
                    if e.code != 422:
                        raise
                    # The server cannot bind yet: run the pod without a node rather than not at all.
                    self.unbindable.add(pod["metadata"]["uid"])
                    self._add(pod)
            elif (pod.get("status") or {}).get("phase") == "Pending":
                image = pod["spec"]["containers"][0].get("image", "")
                await asyncio.sleep(self.delay)
                now = timestamp(datetime.now(timezone.utc))
                ready = "False" if "never-ready" in image else "True"
                conds = [{"type": t, "status": s, "lastTransitionTime": now} for t, s in
                         (("PodScheduled", "True"), ("Initialized", "True"), ("ContainersReady", ready),
                          ("Ready", ready))]
                await self.client.patch("v1/pods", name, {"status": {
                    "phase": "Running", "conditions": conds, "podIP": "10.42.0.9", "startTime": now,
                    "containerStatuses": [{"name": c["name"], "image": c.get("image", ""), "imageID": "",
                                           "ready": ready == "True", "restartCount": 0, "started": True,
                                           "state": {"running": {"startedAt": now}}}
                                          for c in pod["spec"]["containers"]]}},
                    "strategic", ns, subresource="status")
        except ApiError as e:
            if not is_not_found(e):
                print(f"fake kubelet: {key}: {e}")
        finally:
            self.busy.discard(key)
            pod = self.pods.get(*key.split("/", 1))
            if pod is not None and self._needs_work(pod):
                self._add(pod)

    def _bound(self, pod: Any) -> bool:
        return bool(pod["spec"].get("nodeName")) or pod["metadata"]["uid"] in self.unbindable

    def _needs_work(self, pod: Any) -> bool:
        if pod["metadata"].get("deletionTimestamp") or not self._bound(pod):
            return True
        return (pod.get("status") or {}).get("phase") == "Pending"


class Cluster:
    def __init__(self, client: Client, factory: SharedInformerFactory, kubectl: Kubectl, ns: str) -> None:
        self.client = client
        self.factory = factory
        self.kubectl = kubectl
        self.ns = ns

    def k(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        res = self.kubectl.run(*args, "-n", self.ns, check=check, timeout=timeout)
        return res.stdout + (res.stderr if not check else "")

    async def ak(self, *args: str, check: bool = True, timeout: float = 90) -> str:
        return await asyncio.to_thread(self.k, *args, check=check, timeout=timeout)

    def pods(self, **labels: str) -> list[Any]:
        selector = ",".join(f"{k}={v}" for k, v in labels.items()) or None
        return list(self.factory.lister("v1/pods").list(self.ns, selector))

    def active_pods(self, **labels: str) -> list[Any]:
        return [p for p in self.pods(**labels) if not p["metadata"].get("deletionTimestamp")
                and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]

    def ready_pods(self, **labels: str) -> list[Any]:
        return [p for p in self.active_pods(**labels) if any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in (p.get("status") or {}).get("conditions") or [])]

    def replicasets(self) -> list[Any]:
        return self.factory.lister("apps/v1/replicasets").list(self.ns)

    def deployment(self, name: str) -> Any:
        return self.factory.lister("apps/v1/deployments").get(self.ns, name)

    async def eventually(self, cond: Callable[[], Any], timeout: float = 30.0, what: str = "") -> None:
        try:
            async with asyncio.timeout(timeout):
                while not cond():
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what or cond}") from None

    async def events(self, reason: str) -> list[str]:
        items = (await self.client.list("v1/events", self.ns))["items"]
        return [e["message"] for e in items if e["reason"] == reason]


@pytest.fixture
async def cluster(apiserver: NavarchServer, kubectl: Kubectl) -> AsyncIterator[Cluster]:
    client = Client.from_kubeconfig(str(apiserver.kubeconfig), user_agent="navarch-deploy-test")
    ns = f"dep-{uuid.uuid4().hex[:8]}"
    await client.create("v1/namespaces", {"metadata": {"name": ns}})
    factory = SharedInformerFactory(client, namespace=ns, options=FAST)
    recorders = [EventRecorder(client, c) for c in ("replicaset-controller", "replicaset-controller",
                                                      "deployment-controller")]
    controllers = [cls(ControllerContext(client=client, factory=factory, recorder=rec))
                   for cls, rec in zip((ReplicaSetController, ReplicationControllerController, DeploymentController),
                                       recorders)]
    kubelet = FakeKubelet(client, factory)
    factory.start()
    assert await factory.wait_for_cache_sync(timeout=20)
    tasks = [asyncio.create_task(c.run()) for c in controllers] + [asyncio.create_task(kubelet.run())]
    try:
        yield Cluster(client, factory, kubectl, ns)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for rec in recorders:
            await rec.stop(timeout=2)
        await factory.stop()
        await client.close()


class Bounds:
    """Watches the pods of a rollout: the most active pods and the fewest ready ones seen."""

    def __init__(self, c: Cluster, app: str) -> None:
        self.c, self.app = c, app
        self.max_active = 0
        self.min_ready = 10**9
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.max_active = max(self.max_active, len(self.c.active_pods(app=self.app)))
            self.min_ready = min(self.min_ready, len(self.c.ready_pods(app=self.app)))
            await asyncio.sleep(0)
            await asyncio.sleep(0.005)

    def __enter__(self) -> "Bounds":
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def _image(d: Any) -> str:
    return d["spec"]["template"]["spec"]["containers"][0]["image"]


async def test_deployment_create_roll_undo(cluster: Cluster) -> None:
    c = cluster
    await c.ak("create", "deployment", "web", "--image=busybox", "--replicas=5")
    await c.eventually(lambda: len(c.ready_pods(app="web")) == 5, what="5 ready pods")
    out = await c.ak("rollout", "status", "deployment/web", "--timeout=60s")
    assert 'deployment "web" successfully rolled out' in out

    (rs1,) = c.replicasets()
    pod_hash = rs1["metadata"]["labels"]["pod-template-hash"]
    assert rs1["metadata"]["name"] == f"web-{pod_hash}"
    assert rs1["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": pod_hash}
    ann = rs1["metadata"]["annotations"]
    assert (ann["deployment.kubernetes.io/revision"], ann["deployment.kubernetes.io/desired-replicas"],
            ann["deployment.kubernetes.io/max-replicas"]) == ("1", "5", "7")
    ref = rs1["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["controller"], ref["blockOwnerDeletion"]) == ("Deployment", True, True)
    for p in c.pods(app="web"):
        assert p["metadata"]["generateName"] == f"{rs1['metadata']['name']}-"
        assert p["metadata"]["ownerReferences"][0]["uid"] == rs1["metadata"]["uid"]

    await c.eventually(lambda: c.deployment("web")["status"].get("availableReplicas") == 5)
    d = c.deployment("web")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    st = d["status"]
    assert (st["replicas"], st["updatedReplicas"], st["readyReplicas"], st["observedGeneration"]) == (5, 5, 5, 1)
    conds = {x["type"]: x for x in st["conditions"]}
    assert (conds["Available"]["status"], conds["Available"]["reason"]) == ("True", "MinimumReplicasAvailable")
    assert (conds["Progressing"]["status"], conds["Progressing"]["reason"]) == ("True", "NewReplicaSetAvailable")
    assert conds["Progressing"]["message"] == f'ReplicaSet "web-{pod_hash}" has successfully progressed.'
    assert f"Scaled up replica set web-{pod_hash} from 0 to 5" in await c.events("ScalingReplicaSet")
    created = await c.events("SuccessfulCreate")
    assert len([m for m in created if m.startswith(f"Created pod: web-{pod_hash}-")]) == 5

    # A rolling update with the default 25% bounds: maxSurge 2, maxUnavailable 1.
    with Bounds(c, "web") as bounds:
        await c.ak("set", "image", "deployment/web", "busybox=busybox:1.36")
        out = await c.ak("rollout", "status", "deployment/web", "--timeout=90s")
    assert 'deployment "web" successfully rolled out' in out
    assert 6 <= bounds.max_active <= 7, bounds.max_active  # the surge was used, and never exceeded
    assert bounds.min_ready >= 4, bounds.min_ready
    await c.eventually(lambda: len(c.active_pods(app="web")) == 5)
    assert {p["spec"]["containers"][0]["image"] for p in c.active_pods(app="web")} == {"busybox:1.36"}
    assert len(c.replicasets()) == 2
    history = await c.ak("rollout", "history", "deployment/web")
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]

    await c.ak("rollout", "undo", "deployment/web")
    out = await c.ak("rollout", "status", "deployment/web", "--timeout=90s")
    assert "successfully rolled out" in out
    await c.eventually(lambda: _image(c.deployment("web")) == "busybox")
    await c.eventually(lambda: {p["spec"]["containers"][0]["image"] for p in c.active_pods(app="web")} == {"busybox"}
                       and len(c.active_pods(app="web")) == 5, what="pods back on busybox")
    rss = {rs["metadata"]["name"]: rs for rs in c.replicasets()}
    assert len(rss) == 2, list(rss)
    back = rss[f"web-{pod_hash}"]
    await c.eventually(lambda: c.deployment("web")["metadata"]["annotations"]
                       .get("deployment.kubernetes.io/revision") == "3")
    back = c.factory.lister("apps/v1/replicasets").get(c.ns, f"web-{pod_hash}")
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    history = await c.ak("rollout", "history", "deployment/web")
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]


async def test_scale_and_pause(cluster: Cluster) -> None:
    c = cluster
    await c.ak("create", "deployment", "api", "--image=busybox", "--replicas=2")
    await c.eventually(lambda: len(c.ready_pods(app="api")) == 2)
    await c.ak("scale", "deployment/api", "--replicas=6")
    await c.eventually(lambda: len(c.ready_pods(app="api")) == 6, what="scaled up to 6")
    await c.ak("scale", "deployment/api", "--replicas=1")
    await c.eventually(lambda: len(c.pods(app="api")) == 1, what="scaled down to 1")
    (rs,) = c.replicasets()
    msgs = await c.events("ScalingReplicaSet")
    assert f"Scaled up replica set {rs['metadata']['name']} from 2 to 6" in msgs
    assert f"Scaled down replica set {rs['metadata']['name']} from 6 to 1" in msgs
    assert any(m.startswith("Deleted pod: ") for m in await c.events("SuccessfulDelete"))

    await c.ak("rollout", "pause", "deployment/api")
    await c.eventually(lambda: any(x["reason"] == "DeploymentPaused" and x["status"] == "Unknown"
                                   for x in c.deployment("api")["status"].get("conditions", [])))
    await c.ak("set", "image", "deployment/api", "busybox=busybox:1.36")
    await c.ak("scale", "deployment/api", "--replicas=3")
    await c.eventually(lambda: len(c.ready_pods(app="api")) == 3, what="paused deployment still scales")
    assert len(c.replicasets()) == 1, "a paused deployment must not roll out"
    await c.ak("rollout", "resume", "deployment/api")
    await c.eventually(lambda: any(x["reason"] in ("DeploymentResumed", "ReplicaSetUpdated", "NewReplicaSetCreated",
                                                   "NewReplicaSetAvailable")
                                   for x in c.deployment("api")["status"].get("conditions", [])))
    out = await c.ak("rollout", "status", "deployment/api", "--timeout=90s")
    assert "successfully rolled out" in out
    assert {p["spec"]["containers"][0]["image"] for p in c.active_pods(app="api")} == {"busybox:1.36"}


async def test_stuck_rollout_deadline_and_proportional_scaling(cluster: Cluster) -> None:
    c = cluster
    manifest = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "stuck"},
        "spec": {"replicas": 10, "progressDeadlineSeconds": 3, "selector": {"matchLabels": {"app": "stuck"}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}},
                 "template": {"metadata": {"labels": {"app": "stuck"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    await asyncio.to_thread(c.kubectl.run, "apply", "-n", c.ns, "-f", "-", input=json.dumps(manifest))
    await c.eventually(lambda: len(c.ready_pods(app="stuck")) == 10)
    await c.ak("set", "image", "deployment/stuck", "c=example/never-ready")
    # New pods never become ready: the rollout stops at 8 old (10 - maxUnavailable) + 5 new (13 total).
    await c.eventually(lambda: sorted(rs["spec"]["replicas"] for rs in c.replicasets()) == [5, 8],
                       what="rollout stuck at its bounds")
    await c.eventually(lambda: any(x["reason"] == "ProgressDeadlineExceeded" and x["status"] == "False"
                                   for x in c.deployment("stuck")["status"].get("conditions", [])),
                       timeout=20, what="progress deadline exceeded")
    res = await asyncio.to_thread(c.kubectl.run, "rollout", "status", "deployment/stuck", "-n", c.ns,
                                  "--timeout=20s", check=False)
    assert res.returncode != 0 and 'deployment "stuck" exceeded its progress deadline' in res.stderr

    # Scaling mid-rollout spreads the change in proportion: 13 -> 20 + 3 (max surge) = 23 (old 8 -> 14, new 5 -> 9).
    await c.ak("scale", "deployment/stuck", "--replicas=20")
    await c.eventually(lambda: sum(rs["spec"]["replicas"] for rs in c.replicasets()) == 23,
                       what="proportional scale")
    sizes = {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs["spec"]["replicas"]
             for rs in c.replicasets()}
    assert sizes == {"1": 14, "2": 9}, sizes


async def test_recreate_never_overlaps(cluster: Cluster) -> None:
    c = cluster
    manifest = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "rec"},
        "spec": {"replicas": 3, "strategy": {"type": "Recreate"}, "selector": {"matchLabels": {"app": "rec"}},
                 "template": {"metadata": {"labels": {"app": "rec"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    await asyncio.to_thread(c.kubectl.run, "apply", "-n", c.ns, "-f", "-", input=json.dumps(manifest))
    await c.eventually(lambda: len(c.ready_pods(app="rec")) == 3)
    overlap = []

    async def watch() -> None:
        while True:
            images = {p["spec"]["containers"][0]["image"] for p in c.pods(app="rec")}
            if len(images) > 1:
                overlap.append(images)
            await asyncio.sleep(0.005)

    task = asyncio.create_task(watch())
    try:
        await c.ak("set", "image", "deployment/rec", "c=busybox:1.36")
        assert "successfully rolled out" in await c.ak("rollout", "status", "deployment/rec", "--timeout=60s")
    finally:
        task.cancel()
    assert not overlap, overlap
    assert {p["spec"]["containers"][0]["image"] for p in c.pods(app="rec")} == {"busybox:1.36"}


async def test_replicaset_adopts_replaces_and_rc(cluster: Cluster) -> None:
    c = cluster
    orphan = await c.client.create("v1/pods", {"metadata": {"name": "orphan", "labels": {"app": "solo"}},
                                               "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, c.ns)
    rs = await c.client.create("apps/v1/replicasets", {
        "metadata": {"name": "solo"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "solo"}},
                 "template": {"metadata": {"labels": {"app": "solo"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}, c.ns)
    await c.eventually(lambda: len(c.ready_pods(app="solo")) == 3)
    adopted = c.factory.lister("v1/pods").get(c.ns, "orphan")
    assert adopted["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
    assert orphan["metadata"]["uid"] == adopted["metadata"]["uid"]
    await c.eventually(lambda: (c.factory.lister("apps/v1/replicasets").get(c.ns, "solo")["status"]
                                .get("availableReplicas")) == 3)
    st = c.factory.lister("apps/v1/replicasets").get(c.ns, "solo")["status"]
    assert (st["replicas"], st["fullyLabeledReplicas"], st["readyReplicas"], st["observedGeneration"]) == (3, 3, 3, 1)

    victim = c.ready_pods(app="solo")[0]["metadata"]["name"]
    await c.client.delete("v1/pods", victim, c.ns)
    await c.eventually(lambda: len(c.ready_pods(app="solo")) == 3 and victim not in
                       {p["metadata"]["name"] for p in c.pods(app="solo")}, what="replacement")
    # Releasing: a pod whose labels stop matching loses its owner reference and is replaced.
    keep = c.ready_pods(app="solo")[0]["metadata"]["name"]
    await c.client.patch("v1/pods", keep, {"metadata": {"labels": {"app": "other"}}}, "merge", c.ns)
    await c.eventually(lambda: not (c.factory.lister("v1/pods").get(c.ns, keep)["metadata"].get("ownerReferences")),
                       what="release")
    await c.eventually(lambda: len(c.ready_pods(app="solo")) == 3)
    await asyncio.sleep(0.5)
    assert len(c.active_pods(app="solo")) == 3, ("never over-creates", [
        (p["metadata"]["name"], p["metadata"].get("ownerReferences"), p["metadata"]["creationTimestamp"])
        for p in c.active_pods(app="solo")], await c.events("SuccessfulCreate"), await c.events("SuccessfulDelete"))

    rc_yaml = json.dumps({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "legacy"},
                          "spec": {"replicas": 2, "selector": {"app": "legacy"},
                                   "template": {"metadata": {"labels": {"app": "legacy"}},
                                                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    await asyncio.to_thread(c.kubectl.run, "create", "-n", c.ns, "-f", "-", input=rc_yaml)
    await c.eventually(lambda: len(c.ready_pods(app="legacy")) == 2)
    for p in c.pods(app="legacy"):
        assert p["metadata"]["ownerReferences"][0]["kind"] == "ReplicationController"
    await c.ak("scale", "rc/legacy", "--replicas=0")
    await c.eventually(lambda: not c.pods(app="legacy"), what="rc scaled to 0")

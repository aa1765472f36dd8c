"""StatefulSet, DaemonSet, Job, CronJob and HPA controllers against a real ``navarch server``.

No scheduler or kubelet runs here: ``FakeKubelet`` binds pods (to the node their affinity names, or
a default one), moves bound pods to Running (or Succeeded for Job pods, as a container that exits),
and confirms graceful deletions, all through the API as the real components would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from navarch.client.errors import ApiError, is_not_found
from navarch.client.rest import Client
from navarch.controllers.base import ControllerContext, QueueController
from navarch.controllers.cronjob import CronJobController
from navarch.controllers.daemonset import DaemonSetController, target_node
from navarch.controllers.hpa import HorizontalPodAutoscalerController
from navarch.controllers.job import JobController
from navarch.controllers.statefulset import StatefulSetController
from navarch.machinery.events import EventRecorder
from navarch.machinery.factory import SharedInformerFactory
from navarch.machinery.reflector import ReflectorOptions
from tests.navarch_process import NavarchServer, running_server

log = logging.getLogger(__name__)
FAST = ReflectorOptions(backoff_initial=0.1, backoff_max=0.5)


@pytest.fixture(scope="module")
def bare_server() -> Iterator[NavarchServer]:
    """A server without its own controller manager, scheduler or node agent: the controllers under
    test are the only ones acting, so nothing races them."""
    with running_server("wl") as srv:
        yield srv


@pytest.fixture
async def client(bare_server: NavarchServer) -> AsyncIterator[Client]:
    async with Client.from_kubeconfig(str(bare_server.kubeconfig), user_agent="navarch-workload-test") as c:
        yield c


@pytest.fixture
async def ns(client: Client) -> str:
    name = f"wl-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"metadata": {"name": name}})
    return name


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def eventually(cond: Callable[[], Awaitable[Any]], timeout: float = 30.0, what: str = "") -> Any:
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = await cond()
                if result:
                    return result
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what or cond}") from None


class FakeKubelet:
    """Plays scheduler and kubelet for one namespace, one poll at a time."""

    def __init__(self, client: Client, ns: str, default_node: str = "node-a",
                 outcome: Callable[[dict[str, Any]], str] = lambda pod: "Running") -> None:
        self.client, self.ns, self.default_node, self.outcome = client, ns, default_node, outcome
        self.hold: set[str] = set()  # pod names left Pending (to test ordering)
        self.unbindable: set[str] = set()

    async def run(self) -> None:
        while True:
            pods = (await self.client.list("pods", self.ns)).get("items") or []
            for pod in pods:
                try:
                    await self._step(pod)
                except ApiError as e:  # the next poll retries; say why for the test log
                    log.info("fake kubelet: %s: %s", pod["metadata"]["name"], e)
            await asyncio.sleep(0.1)

    async def _step(self, pod: dict[str, Any]) -> None:
        meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
        if meta.get("deletionTimestamp"):
            await self.client.delete("pods", meta["name"], self.ns, grace_period_seconds=0)
            return
        if meta["name"] in self.hold:
            return
        if not spec.get("nodeName") and meta["uid"] not in self.unbindable:
            node = target_node(pod) or self.default_node
            try:
                await self.client.create_subresource("pods", meta["name"], "binding", {
                    "apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"]},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": node}}, self.ns)
                return
            except ApiError as e:
                if e.code != 422:
                    raise
                # navarch's pods/binding currently refuses to set nodeName (422): run the pod
                # unbound; the controllers under test read the node from affinity, not nodeName.
                self.unbindable.add(meta["uid"])
        if status.get("phase") in ("Running", "Succeeded", "Failed"):
            return
        phase = self.outcome(pod)
        ts = now()
        containers = [c["name"] for c in spec.get("containers") or []]
        if phase == "Running":
            state = {"running": {"startedAt": ts}}
            conditions = [{"type": t, "status": "True", "lastTransitionTime": ts}
                          for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]
        else:
            code = 0 if phase == "Succeeded" else 1
            state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                    "startedAt": ts, "finishedAt": ts}}
            conditions = [{"type": "Ready", "status": "False", "lastTransitionTime": ts, "reason": "PodCompleted"}]
        body = {"status": {"phase": phase, "conditions": conditions, "podIP": "10.42.0.10", "startTime": ts,
                           "containerStatuses": [{"name": n, "ready": phase == "Running", "restartCount": 0,
                                                  "image": "busybox", "imageID": "", "started": phase == "Running",
                                                  "state": state} for n in containers]}}
        await self.client.patch("pods", meta["name"], body, "merge", self.ns, "status")


@contextlib.asynccontextmanager
async def running(client: Client, *controllers: type[QueueController], kubelet: FakeKubelet | None = None,
                  options: dict[str, Any] | None = None) -> AsyncIterator[list[QueueController]]:
    factory = SharedInformerFactory(client, options=FAST)
    recorder = EventRecorder(client, "navarch-controller-manager")
    ctx = ControllerContext(client=client, factory=factory, recorder=recorder, options=options or {})
    ctrls = [c(ctx) for c in controllers]
    factory.start()
    assert await factory.wait_for_cache_sync(15)
    tasks = [asyncio.create_task(c.run()) for c in ctrls]
    if kubelet is not None:
        tasks.append(asyncio.create_task(kubelet.run()))
    try:
        yield ctrls
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await recorder.stop(1.0)
        await factory.stop()


def container() -> dict[str, Any]:
    return {"name": "main", "image": "busybox", "command": ["sleep", "3600"]}


async def get(client: Client, res: str, name: str, ns: str | None = None) -> dict[str, Any] | None:
    try:
        return await client.get(res, name, ns)
    except ApiError as e:
        if is_not_found(e):
            return None
        raise


async def test_statefulset_comes_up_in_order(client: Client, ns: str) -> None:
    kubelet = FakeKubelet(client, ns)
    kubelet.hold.add("web-1")
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web", "namespace": ns},
           "spec": {"replicas": 3, "serviceName": "web", "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container()]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}
    await client.create("apps/v1/statefulsets", sts, ns)
    async with running(client, StatefulSetController, kubelet=kubelet):
        async def names() -> list[str]:
            return sorted(p["metadata"]["name"] for p in (await client.list("pods", ns))["items"])

        await eventually(lambda: _eq(names(), ["web-0", "web-1"]), what="web-0 and web-1")
        await asyncio.sleep(1.0)  # web-1 is held Pending: web-2 must not appear
        assert await names() == ["web-0", "web-1"]
        kubelet.hold.clear()
        await eventually(lambda: _eq(names(), ["web-0", "web-1", "web-2"]), what="web-2")

        async def ready() -> dict[str, Any] | None:
            s = await client.get("apps/v1/statefulsets", "web", ns)
            st = s.get("status") or {}
            return s if st.get("readyReplicas") == 3 and st.get("updatedReplicas") == 3 else None

        s = await eventually(ready, what="3 ready replicas")
        st = s["status"]
        assert st["replicas"] == 3 and st["currentReplicas"] == 3 and st["currentRevision"] == st["updateRevision"]
        assert st["observedGeneration"] == s["metadata"]["generation"]
        pod = await client.get("pods", "web-2", ns)
        labels = pod["metadata"]["labels"]
        assert labels["statefulset.kubernetes.io/pod-name"] == "web-2"
        assert labels["apps.kubernetes.io/pod-index"] == "2"
        assert labels["controller-revision-hash"] == st["updateRevision"]
        assert pod["spec"]["hostname"] == "web-2" and pod["spec"]["subdomain"] == "web"
        claims = sorted(c["metadata"]["name"] for c in (await client.list("persistentvolumeclaims", ns))["items"])
        assert claims == ["data-web-0", "data-web-1", "data-web-2"]
        revisions = (await client.list("apps/v1/controllerrevisions", ns))["items"]
        assert [r["metadata"]["name"] for r in revisions] == [st["updateRevision"]]

        # Scale down removes the highest ordinal first.
        await client.patch("apps/v1/statefulsets", "web", {"spec": {"replicas": 1}}, "merge", ns)
        await eventually(lambda: _eq(names(), ["web-0"]), what="scale down to web-0")


async def _eq(value: Awaitable[Any], want: Any) -> bool:
    return (await value) == want


async def test_daemonset_covers_nodes_and_skips_tainted_one(client: Client, ns: str) -> None:
    prefix = uuid.uuid4().hex[:6]
    nodes = [f"{prefix}-n{i}" for i in range(4)]
    for i, name in enumerate(nodes):
        taints = [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}] if i == 3 else []
        await client.create("nodes", {"apiVersion": "v1", "kind": "Node",
                                      "metadata": {"name": name, "labels": {"pool": prefix}},
                                      "spec": {"taints": taints}})
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": ns},
          "spec": {"selector": {"matchLabels": {"app": "agent"}},
                   "template": {"metadata": {"labels": {"app": "agent"}},
                                "spec": {"nodeSelector": {"pool": prefix}, "containers": [container()]}}}}
    await client.create("apps/v1/daemonsets", ds, ns)
    try:
        async with running(client, DaemonSetController, kubelet=FakeKubelet(client, ns)):
            async def status() -> dict[str, Any] | None:
                d = await client.get("apps/v1/daemonsets", "agent", ns)
                st = d.get("status") or {}
                return st if st.get("numberReady") == 3 and st.get("updatedNumberScheduled") == 3 else None

            st = await eventually(status, what="3 ready daemon pods")
            assert st["desiredNumberScheduled"] == 3 and st["currentNumberScheduled"] == 3
            assert st["numberMisscheduled"] == 0 and st["numberAvailable"] == 3
            pods = (await client.list("pods", ns))["items"]
            assert sorted(target_node(p) for p in pods) == nodes[:3]
            for p in pods:
                assert p["spec"].get("nodeName") in (None, target_node(p))
                assert any(t["key"] == "node.kubernetes.io/unschedulable" for t in p["spec"]["tolerations"])

            # Tolerating the taint brings the fourth node in (a rolling update of all pods).
            await client.patch("apps/v1/daemonsets", "agent", {"spec": {"template": {"spec": {"tolerations": [
                {"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]}}}}, "merge", ns)

            async def four() -> dict[str, Any] | None:
                d = await client.get("apps/v1/daemonsets", "agent", ns)
                st = d.get("status") or {}
                ok = st.get("observedGeneration") == d["metadata"]["generation"] and \
                    st.get("updatedNumberScheduled") == 4 and st.get("numberAvailable") == 4
                return st if ok else None

            await eventually(four, timeout=60, what="rolled out to 4 nodes")
    finally:
        for name in nodes:
            with contextlib.suppress(ApiError):
                await client.delete("nodes", name)


async def test_job_with_three_completions_completes(client: Client, ns: str) -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi", "namespace": ns},
           "spec": {"completions": 3, "parallelism": 2,
                    "template": {"spec": {"restartPolicy": "Never", "containers": [container()]}}}}
    await client.create("batch/v1/jobs", job, ns)
    kubelet = FakeKubelet(client, ns, outcome=lambda pod: "Succeeded")
    async with running(client, JobController, kubelet=kubelet):
        async def complete() -> dict[str, Any] | None:
            j = await client.get("batch/v1/jobs", "pi", ns)
            conds = {c["type"]: c for c in (j.get("status") or {}).get("conditions") or []}
            return j if conds.get("Complete", {}).get("status") == "True" else None

        j = await eventually(complete, what="Complete condition")
        st = j["status"]
        assert st["succeeded"] == 3 and st.get("failed", 0) == 0 and st["active"] == 0
        assert st["startTime"] and st["completionTime"]
        assert {c["type"] for c in st["conditions"]} == {"SuccessCriteriaMet", "Complete"}
        assert st["uncountedTerminatedPods"] == {} or not any(st["uncountedTerminatedPods"].values())

        async def finalizers_gone() -> bool:
            pods = (await client.list("pods", ns))["items"]
            return len(pods) == 3 and not any(p["metadata"].get("finalizers") for p in pods)

        await eventually(finalizers_gone, what="tracking finalizers removed")


async def test_job_backoff_limit_fails_the_job(client: Client, ns: str) -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "boom", "namespace": ns},
           "spec": {"backoffLimit": 0,
                    "template": {"spec": {"restartPolicy": "Never", "containers": [container()]}}}}
    await client.create("batch/v1/jobs", job, ns)
    async with running(client, JobController, kubelet=FakeKubelet(client, ns, outcome=lambda pod: "Failed")):
        async def failed() -> dict[str, Any] | None:
            j = await client.get("batch/v1/jobs", "boom", ns)
            conds = {c["type"]: c for c in (j.get("status") or {}).get("conditions") or []}
            return j if conds.get("Failed", {}).get("status") == "True" else None

        j = await eventually(failed, what="Failed condition")
        conds = {c["type"]: c for c in j["status"]["conditions"]}
        assert conds["Failed"]["reason"] == "BackoffLimitExceeded"
        assert conds["FailureTarget"]["reason"] == "BackoffLimitExceeded"
        assert j["status"]["failed"] == 1


async def test_cronjob_creates_its_job_when_due(client: Client, ns: str) -> None:
    cj = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick", "namespace": ns},
          "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
              "restartPolicy": "Never", "containers": [container()]}}}}}}
    created = await client.create("batch/v1/cronjobs", cj, ns)
    # The first run is the next whole minute after creation: at most ~60 s away.
    async with running(client, CronJobController):
        async def job() -> dict[str, Any] | None:
            items = (await client.list("batch/v1/jobs", ns))["items"]
            return items[0] if items else None

        j = await eventually(job, timeout=75, what="the first scheduled job")
        assert j["metadata"]["name"].startswith("tick-")
        minutes = int(j["metadata"]["name"].rsplit("-", 1)[1])
        assert j["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == \
            datetime.fromtimestamp(minutes * 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert j["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]

        async def status() -> dict[str, Any] | None:
            c = await client.get("batch/v1/cronjobs", "tick", ns)
            st = c.get("status") or {}
            return st if st.get("active") and st.get("lastScheduleTime") else None

        st = await eventually(status, what="cronjob status")
        assert st["active"][0]["name"] == j["metadata"]["name"]


async def test_hpa_reports_missing_metrics_api(client: Client, ns: str) -> None:
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "app", "namespace": ns},
           "spec": {"replicas": 2, "serviceName": "app", "selector": {"matchLabels": {"app": "a"}},
                    "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [container()]}}}}
    await client.create("apps/v1/statefulsets", sts, ns)
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "app", "namespace": ns},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "app"},
                    "minReplicas": 1, "maxReplicas": 5}}
    await client.create("autoscaling/v2/horizontalpodautoscalers", hpa, ns)
    async with running(client, HorizontalPodAutoscalerController):
        async def condition() -> dict[str, Any] | None:
            h = await client.get("autoscaling/v2/horizontalpodautoscalers", "app", ns)
            conds = {c["type"]: c for c in (h.get("status") or {}).get("conditions") or []}
            return conds if "ScalingActive" in conds else None

        conds = await eventually(condition, what="ScalingActive condition")
        assert conds["ScalingActive"]["status"] == "False"
        assert conds["ScalingActive"]["reason"] == "FailedGetResourceMetric"
        assert conds["AbleToScale"]["status"] == "True"
        s = await client.get("apps/v1/statefulsets", "app", ns)
        assert s["spec"]["replicas"] == 2  # left alone

"""The cluster-hygiene controllers in-process against a real ``navarch server`` that runs none itself.

Kubelets are emulated by writing pod status and node Leases through the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from navarch.client.errors import ApiError, is_not_found
from navarch.client.rest import Client
from navarch.controllers.base import ControllerContext, QueueController
from navarch.controllers.disruption import DisruptionController
from navarch.controllers.endpoints import EndpointsController
from navarch.controllers.endpointslice import EndpointSliceController
from navarch.controllers.garbagecollector import GarbageCollector
from navarch.controllers.namespace import NamespaceController
from navarch.controllers.nodelifecycle import LEASE_NAMESPACE, NodeLifecycleController
from navarch.controllers.serviceaccount import ServiceAccountController
from navarch.machinery.events import EventRecorder
from navarch.machinery.factory import SharedInformerFactory
from navarch.machinery.reflector import ReflectorOptions
from tests.navarch_process import NavarchServer, running_server


@pytest.fixture(scope="module")
def bare_server() -> Iterator[NavarchServer]:
    """A server without its own controller manager or scheduler, so only the controllers under test act."""
    with running_server("hygiene") as srv:
        yield srv


@pytest.fixture
async def client(bare_server: NavarchServer) -> AsyncIterator[Client]:
    async with Client.from_kubeconfig(str(bare_server.kubeconfig), user_agent="navarch-hygiene-test") as c:
        yield c


@pytest.fixture
async def ns(client: Client) -> str:
    name = f"hy-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"metadata": {"name": name}})
    return name


@contextlib.asynccontextmanager
async def running(client: Client, *classes: type[QueueController], **options: Any) -> AsyncIterator[list[Any]]:
    factory = SharedInformerFactory(client, options=ReflectorOptions(backoff_initial=0.1, backoff_max=0.5))
    recorder = EventRecorder(client, "navarch-hygiene-test")
    ctx = ControllerContext(client=client, factory=factory, recorder=recorder, options=options)
    controllers = [cls(ctx) for cls in classes]
    factory.start()
    assert await factory.wait_for_cache_sync(20)
    tasks = [asyncio.create_task(c.run()) for c in controllers]
    try:
        yield controllers
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await recorder.stop(1)
        await factory.stop()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    """Poll ``check`` until it returns something truthy (or stops raising AssertionError)."""
    last: BaseException | None = None
    async with asyncio.timeout(timeout):
        while True:
            try:
                result = await check()
                if result:
                    return result
            except AssertionError as e:
                last = e
            await asyncio.sleep(0.1)
    raise AssertionError(last)


async def exists(client: Client, res: str, name: str, ns: str | None = None) -> bool:
    try:
        await client.get(res, name, ns)
        return True
    except ApiError as e:
        if is_not_found(e):
            return False
        raise


def cm(name: str, ns: str, *owners: dict[str, Any], finalizers: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if owners:
        meta["ownerReferences"] = list(owners)
    if finalizers:
        meta["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


def ref(obj: dict[str, Any], block: bool = False) -> dict[str, Any]:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "blockOwnerDeletion": block}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---- garbage collector ------------------------------------------------------------------------


async def test_gc_background_foreground_and_orphan(client: Client, ns: str) -> None:
    async with running(client, GarbageCollector):
        # Background: the owner goes, its dependent follows.
        owner = await client.create("configmaps", cm("owner", ns))
        await client.create("configmaps", cm("child", ns, ref(owner)))
        await client.delete("configmaps", "owner", ns)
        await eventually(lambda: _gone(client, "configmaps", "child", ns))

        # A reference to a uid that never existed counts as an absent owner.
        await client.create("configmaps", cm("stray", ns, {**ref(owner), "uid": str(uuid.uuid4())}))
        await eventually(lambda: _gone(client, "configmaps", "stray", ns))

        # Foreground: the owner waits (finalizer) until its blocking dependent is gone.
        fg = await client.create("configmaps", cm("fg", ns))
        await client.create("configmaps", cm("fg-child", ns, ref(fg, block=True), finalizers=["test/hold"]))
        await client.patch("configmaps", "fg", {"metadata": {"finalizers": ["foregroundDeletion"]}}, "merge", ns)
        await client.delete("configmaps", "fg", ns)
        await eventually(lambda: _deleting(client, "configmaps", "fg-child", ns))
        assert await exists(client, "configmaps", "fg", ns)  # held while the dependent exists
        await client.patch("configmaps", "fg-child", {"metadata": {"finalizers": None}}, "merge", ns)
        await eventually(lambda: _gone(client, "configmaps", "fg", ns))

        # Orphan: dependents lose the reference and stay.
        orph = await client.create("configmaps", cm("orph", ns))
        await client.create("configmaps", cm("kept", ns, ref(orph)))
        await client.patch("configmaps", "orph", {"metadata": {"finalizers": ["orphan"]}}, "merge", ns)
        await client.delete("configmaps", "orph", ns)
        await eventually(lambda: _gone(client, "configmaps", "orph", ns))
        kept = await client.get("configmaps", "kept", ns)
        assert not kept["metadata"].get("ownerReferences")


async def _gone(client: Client, res: str, name: str, ns: str | None) -> bool:
    return not await exists(client, res, name, ns)


async def _deleting(client: Client, res: str, name: str, ns: str | None) -> bool:
    obj = await client.get(res, name, ns)
    return bool(obj["metadata"].get("deletionTimestamp"))


# ---- namespace and service accounts -----------------------------------------------------------


async def test_namespace_deletion_removes_content_then_namespace(client: Client, ns: str) -> None:
    async with running(client, NamespaceController, ServiceAccountController):
        sa = await eventually(lambda: exists(client, "serviceaccounts", "default", ns))
        assert sa
        await client.delete("serviceaccounts", "default", ns)
        await eventually(lambda: exists(client, "serviceaccounts", "default", ns))  # recreated

        await client.create("configmaps", cm("a", ns))
        await client.create("configmaps", cm("held", ns, finalizers=["test/hold"]))
        await client.create("pods", {"metadata": {"name": "p", "namespace": ns},
                                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
        await client.delete("namespaces", ns)
        await eventually(lambda: _deleting(client, "configmaps", "held", ns))
        assert not await exists(client, "configmaps", "a", ns)
        assert not await exists(client, "pods", "p", ns)

        async def remaining_condition() -> bool:
            got = await client.get("namespaces", ns)
            conds = {c["type"]: c for c in (got.get("status") or {}).get("conditions") or []}
            c = conds.get("NamespaceFinalizersRemaining")
            return bool(c and c["status"] == "True" and c["reason"] == "SomeFinalizersRemain")

        await eventually(remaining_condition)
        assert await exists(client, "namespaces", ns)
        await client.patch("configmaps", "held", {"metadata": {"finalizers": None}}, "merge", ns)
        await eventually(lambda: _gone(client, "namespaces", ns, None))


# ---- endpoints and endpoint slices ------------------------------------------------------------


def web_pod(name: str, ns: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                                     "ports": [{"name": "http", "containerPort": 8080}]}]}}


async def set_pod_status(client: Client, ns: str, name: str, ip: str, ready: bool) -> None:
    status = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
              "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    await client.patch("pods", name, {"status": status}, "merge", ns, subresource="status")


async def test_endpoints_and_slices_follow_pods(client: Client, ns: str) -> None:
    async with running(client, EndpointsController, EndpointSliceController):
        await client.create("services", {"metadata": {"name": "web", "namespace": ns}, "spec": {
            "selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
        await client.create("services", {"metadata": {"name": "manual", "namespace": ns}, "spec": {
            "ports": [{"port": 80}]}})
        for name in ("a", "b"):
            await client.create("pods", web_pod(name, ns))
        await set_pod_status(client, ns, "a", "10.42.0.11", True)
        await set_pod_status(client, ns, "b", "10.42.0.12", False)

        async def endpoints_ok() -> bool:
            ep = await client.get("endpoints", "web", ns)
            subsets = ep.get("subsets") or []
            if len(subsets) != 1:
                return False
            s = subsets[0]
            return ([a["ip"] for a in s.get("addresses") or []] == ["10.42.0.11"]
                    and [a["ip"] for a in s.get("notReadyAddresses") or []] == ["10.42.0.12"]
                    and s["ports"][0]["port"] == 8080)

        await eventually(endpoints_ok)

        async def slices_ok() -> bool:
            got = await client.list("endpointslices", ns, label_selector="kubernetes.io/service-name=web")
            items = got.get("items") or []
            if len(items) != 1:
                return False
            s = items[0]
            assert s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
            conds = {e["addresses"][0]: e["conditions"] for e in s.get("endpoints") or []}
            return conds == {"10.42.0.11": {"ready": True, "serving": True, "terminating": False},
                             "10.42.0.12": {"ready": False, "serving": False, "terminating": False}}

        await eventually(slices_ok)

        # b becomes ready: both lists follow.
        await set_pod_status(client, ns, "b", "10.42.0.12", True)

        async def both_ready() -> bool:
            ep = await client.get("endpoints", "web", ns)
            return sorted(a["ip"] for a in ep["subsets"][0].get("addresses") or []) == ["10.42.0.11", "10.42.0.12"]

        await eventually(both_ready)
        # The selector-less service got nothing from us.
        assert not await exists(client, "endpoints", "manual", ns)
        manual = await client.list("endpointslices", ns, label_selector="kubernetes.io/service-name=manual")
        assert manual["items"] == []

        # Service deleted: its Endpoints go too.
        await client.delete("services", "web", ns)
        await eventually(lambda: _gone(client, "endpoints", "web", ns))


# ---- disruption budgets -----------------------------------------------------------------------


async def test_pdb_status_tracks_ready_pods(client: Client, ns: str) -> None:
    async with running(client, DisruptionController):
        for name in ("a", "b", "c"):
            await client.create("pods", web_pod(name, ns))
            await set_pod_status(client, ns, name, f"10.42.1.{ord(name)}", True)
        await client.create("poddisruptionbudgets", {"metadata": {"name": "web", "namespace": ns}, "spec": {
            "minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}})

        async def status_is(allowed: int, healthy: int) -> bool:
            st = (await client.get("poddisruptionbudgets", "web", ns)).get("status") or {}
            return st.get("disruptionsAllowed") == allowed and st.get("currentHealthy") == healthy \
                and st.get("expectedPods") == 3 and st.get("desiredHealthy") == 2

        await eventually(lambda: status_is(1, 3))
        await set_pod_status(client, ns, "c", "10.42.1.99", False)
        await eventually(lambda: status_is(0, 2))
        st = (await client.get("poddisruptionbudgets", "web", ns))["status"]
        cond = next(c for c in st["conditions"] if c["type"] == "DisruptionAllowed")
        assert (cond["status"], cond["reason"]) == ("False", "InsufficientPods")


# ---- node lifecycle ---------------------------------------------------------------------------


async def test_silent_node_goes_unknown_tainted_and_pods_evicted(client: Client, ns: str) -> None:
    names = [f"hy-n{i}-{uuid.uuid4().hex[:5]}" for i in range(3)]
    for n in names:
        await client.create("nodes", {"metadata": {"name": n}})
        await client.patch("nodes", n, {"status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": now(),
             "lastTransitionTime": now()}]}}, "merge", subresource="status")
        await client.create("leases", {"metadata": {"name": n, "namespace": LEASE_NAMESPACE},
                                       "spec": {"holderIdentity": n, "renewTime": now()}}, LEASE_NAMESPACE)
    dead = names[0]
    def tol(seconds: int) -> list[dict[str, Any]]:
        return [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                 "tolerationSeconds": seconds}]

    # (Pods without tolerations get 300 s ones at admission; these override them.)
    for pname, tolerations in (("quick", tol(0)), ("patient", tol(2))):
        await client.create("pods", {"metadata": {"name": pname, "namespace": ns}, "spec": {
            "nodeName": dead, "tolerations": tolerations, "containers": [{"name": "c", "image": "busybox"}]}})
    options = {"node-monitor-grace-period": 2.0, "node-monitor-period": 0.5, "node-eviction-rate": 100.0}
    stop = asyncio.Event()

    async def heartbeats() -> None:
        while not stop.is_set():
            for n in names[1:]:
                await client.patch("leases", n, {"spec": {"renewTime": now()}}, "merge", LEASE_NAMESPACE)
            await asyncio.sleep(0.3)

    beat = asyncio.create_task(heartbeats())
    try:
        async with running(client, NodeLifecycleController, **options):
            async def unknown_and_tainted() -> bool:
                node = await client.get("nodes", dead)
                ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
                taints = {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or []}
                return ready["status"] == "Unknown" and ready["reason"] == "NodeStatusUnknown" and \
                    ("node.kubernetes.io/unreachable", "NoExecute") in taints and \
                    ("node.kubernetes.io/unreachable", "NoSchedule") in taints

            await eventually(unknown_and_tainted)
            await eventually(lambda: _gone_or_deleting(client, "pods", "quick", ns))
            assert await exists(client, "pods", "patient", ns)
            await eventually(lambda: _gone_or_deleting(client, "pods", "patient", ns))
            for n in names[1:]:
                node = await client.get("nodes", n)
                assert not (node.get("spec") or {}).get("taints"), n

            # The kubelet comes back: Ready again, the taints go.
            await client.patch("leases", dead, {"spec": {"renewTime": now()}}, "merge", LEASE_NAMESPACE)
            await client.patch("nodes", dead, {"status": {"conditions": [
                {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": now(),
                 "lastTransitionTime": now()}]}}, "strategic", subresource="status")
            async def untainted() -> bool:
                node = await client.get("nodes", dead)
                return not (node.get("spec") or {}).get("taints")

            await eventually(untainted)
    finally:
        stop.set()
        await beat
        for n in names:
            await client.delete("nodes", n)


async def _gone_or_deleting(client: Client, res: str, name: str, ns: str) -> bool:
    try:
        obj = await client.get(res, name, ns)
    except ApiError as e:
        if is_not_found(e):
            return True
        raise
    return bool(obj["metadata"].get("deletionTimestamp"))

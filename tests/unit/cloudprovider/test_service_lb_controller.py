"""The service-lb controller with the stub cloud: finalizer, address, release, restarts."""

from __future__ import annotations

from typing import Any

import pytest

from navarch.cloudprovider.controllers.service import FINALIZER, ServiceController
from navarch.cloudprovider.stub import StubCloud
from tests.unit.cloudprovider.cloud_fakes import make_cloud_ctx, put, refresh


def service(name: str, type_: str = "LoadBalancer", uid: str | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default", "uid": uid or f"uid-{name}"},
            "spec": {"type": type_, "ports": [{"port": 80}], **spec}}


def node(name: str, ip: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]}}


def ingress(api: Any, name: str) -> list[str]:
    svc = api.objects[("services", "default", name)]
    return [i["ip"] for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]


def setup(pool: str | None = None, *objs: dict[str, Any]):
    cloud = StubCloud({"lb-ip-pool": pool} if pool else None)
    ctx, api, events = make_cloud_ctx(cloud)
    ctrl = ServiceController(ctx)
    put(ctx, api, "services", *objs)
    return ctrl, ctx, api, events, cloud


async def test_finalizer_first_then_an_address_from_the_pool() -> None:
    ctrl, ctx, api, events, _ = setup(None, service("web"), service("db"))
    await ctrl.sync("default/web")
    verbs = api.verbs()
    assert verbs[0] == ("patch", "services", "default/web")
    assert api.writes[0][3]["metadata"]["finalizers"] == [FINALIZER]
    assert ingress(api, "web") == ["127.0.0.2"]
    assert events.reasons() == ["EnsuringLoadBalancer", "EnsuredLoadBalancer"]
    await ctrl.sync("default/db")
    assert ingress(api, "db") == ["127.0.0.3"]

    # Our own writes come back through the watch: nothing more to do, nothing said.
    refresh(ctx, api, "services")
    before = len(api.writes)
    await ctrl.sync("default/web")
    assert len(api.writes) == before and events.reasons().count("EnsuredLoadBalancer") == 2


async def test_deletion_releases_the_address_and_the_finalizer() -> None:
    ctrl, ctx, api, events, cloud = setup(None, service("web"))
    await ctrl.sync("default/web")
    refresh(ctx, api, "services")
    api.objects[("services", "default", "web")]["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    refresh(ctx, api, "services")
    await ctrl.sync("default/web")
    assert ("services", "default", "web") not in api.objects  # finalizer gone: the API finished the delete
    assert cloud.allocated == {}
    assert events.reasons()[-2:] == ["DeletingLoadBalancer", "DeletedLoadBalancer"]
    refresh(ctx, api, "services")
    put(ctx, api, "services", service("next"))
    await ctrl.sync("default/next")
    assert ingress(api, "next") == ["127.0.0.2"]  # the address is free again


async def test_type_change_clears_status_and_finalizer() -> None:
    ctrl, ctx, api, _, cloud = setup(None, service("web"))
    await ctrl.sync("default/web")
    refresh(ctx, api, "services")
    api.objects[("services", "default", "web")]["spec"]["type"] = "ClusterIP"
    refresh(ctx, api, "services")
    await ctrl.sync("default/web")
    svc = api.objects[("services", "default", "web")]
    assert not svc["metadata"].get("finalizers")
    assert ingress(api, "web") == []
    assert cloud.allocated == {}


async def test_vanished_service_without_finalizer_is_released() -> None:
    ctrl, ctx, api, _, cloud = setup(None, service("web"))
    await ctrl.sync("default/web")
    del api.objects[("services", "default", "web")]
    refresh(ctx, api, "services")
    await ctrl.sync("default/web")
    assert cloud.allocated == {}


async def test_load_balancer_class_and_other_types_are_not_ours() -> None:
    ctrl, _ctx, api, events, _ = setup(None, service("classy", loadBalancerClass="example.com/lb"),
                                      service("plain", "ClusterIP"))
    await ctrl.sync("default/classy")
    await ctrl.sync("default/plain")
    assert api.writes == [] and events.reasons() == []


async def test_after_a_restart_addresses_in_service_status_stay_taken() -> None:
    held = service("old", uid="uid-old")
    held["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.0.2"}]}}
    held["metadata"]["finalizers"] = [FINALIZER]
    ctrl, _ctx, api, _, _ = setup(None, held, service("new"))
    await ctrl.sync("default/new")
    assert ingress(api, "new") == ["127.0.0.3"]
    await ctrl.sync("default/old")
    assert ingress(api, "old") == ["127.0.0.2"]


async def test_requested_address_and_exhausted_pool_are_reported() -> None:
    ctrl, _ctx, api, events, _ = setup("10.0.0.1-10.0.0.2", service("a", loadBalancerIP="10.0.0.2"), service("b"),
                                      service("c"), service("d", loadBalancerIP="192.0.2.1"))
    await ctrl.sync("default/a")
    await ctrl.sync("default/b")
    assert (ingress(api, "a"), ingress(api, "b")) == (["10.0.0.2"], ["10.0.0.1"])
    with pytest.raises(Exception, match="no free address"):
        await ctrl.sync("default/c")
    with pytest.raises(Exception, match="not in the pool"):
        await ctrl.sync("default/d")
    assert events.reasons()[-1] == "SyncLoadBalancerFailed"
    assert events.recorded[-1][3].startswith("Error syncing load balancer: ")


async def test_node_pool_answers_with_eligible_node_addresses() -> None:
    ctrl, ctx, api, _events, _ = setup("node", service("web"))
    put(ctx, api, "nodes", node("n1", "10.1.0.1"), node("n2", "10.1.0.2"),
        node("n3", "10.1.0.3", **{"node.kubernetes.io/exclude-from-external-load-balancers": ""}))
    await ctrl.sync("default/web")
    assert ingress(api, "web") == ["10.1.0.1", "10.1.0.2"]
    refresh(ctx, api, "services")
    put(ctx, api, "nodes", node("n4", "10.1.0.4"))
    await ctrl.sync("default/web")
    assert ingress(api, "web") == ["10.1.0.1", "10.1.0.2", "10.1.0.4"]


def test_own_status_write_does_not_requeue_but_spec_change_does() -> None:
    ctrl, _ctx, _api, _, _ = setup(None)
    old = {**service("web"), "metadata": {**service("web")["metadata"], "resourceVersion": "1"}}
    new = {**old, "metadata": {**old["metadata"], "resourceVersion": "2"}}
    ctrl._service_changed(new, old)
    assert len(ctrl.queue) == 0
    changed = {**new, "spec": {**new["spec"], "ports": [{"port": 81}]}}
    ctrl._service_changed(changed, new)
    assert len(ctrl.queue) == 1


async def test_a_cache_behind_our_own_writes_is_not_acted_on() -> None:
    ctrl, ctx, api, events, _ = setup(None, service("web"))
    api.objects[("services", "default", "web")]["metadata"]["resourceVersion"] = "5"
    refresh(ctx, api, "services")
    await ctrl.sync("default/web")
    writes = len(api.writes)
    await ctrl.sync("default/web")  # the cache still shows the Service before our writes
    assert len(api.writes) == writes
    assert events.reasons() == ["EnsuringLoadBalancer", "EnsuredLoadBalancer"]

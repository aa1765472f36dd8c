import asyncio

import pytest

from navarch.api.errors import StatusError
from navarch.apiserver.admission import resource_quota
from tests.unit.apiserver.admission.fakes import FakeAccess, attrs, container, make_pod


def quota(name: str = "q", hard: dict | None = None, status: dict | None = None, **spec) -> dict:
    obj = {"metadata": {"name": name, "namespace": "ns"}, "spec": {"hard": hard or {"pods": "2"}, **spec}}
    if status is not None:
        obj["status"] = status
    return obj


def used(access: FakeAccess, name: str = "q") -> dict:
    return access.obj("", "resourcequotas", "ns", name)["status"]["used"]


async def test_pods_are_charged_until_the_quota_is_full() -> None:
    access = FakeAccess()
    access.put("", "resourcequotas", quota(status={"hard": {"pods": "2"}, "used": {"pods": "1"}}))
    await resource_quota.new().validate(attrs(access, "pods", make_pod("a")))
    assert used(access) == {"pods": "2"}
    with pytest.raises(StatusError) as e:
        await resource_quota.new().validate(attrs(access, "pods", make_pod("b")))
    assert e.value.code == 403
    assert e.value.message == 'pods "b" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2'


async def test_unsynced_quota_is_computed_from_existing_objects() -> None:
    access = FakeAccess()
    access.put("", "pods", make_pod("old", containers=[container(requests={"cpu": "500m"}, limits={"cpu": "1"})]))
    access.put("", "pods", {**make_pod("done"), "status": {"phase": "Succeeded"}})
    access.put("", "resourcequotas", quota(hard={"pods": "5", "requests.cpu": "1", "limits.cpu": "2"}))
    pod = make_pod("new", containers=[container(requests={"cpu": "250m"}, limits={"cpu": "500m"})])
    await resource_quota.new().validate(attrs(access, "pods", pod))
    status = access.obj("", "resourcequotas", "ns", "q")["status"]
    assert status["hard"] == {"pods": "5", "requests.cpu": "1", "limits.cpu": "2"}
    assert status["used"] == {"limits.cpu": "1500m", "pods": "2", "requests.cpu": "750m"}


async def test_cpu_quota_needs_requests_from_every_container() -> None:
    access = FakeAccess()
    access.put("", "resourcequotas", quota(hard={"requests.cpu": "1", "limits.memory": "1Gi"}))
    pod = make_pod(containers=[container("a", requests={"cpu": "100m"}), container("b")])
    with pytest.raises(StatusError) as e:
        await resource_quota.new().validate(attrs(access, "pods", pod))
    assert e.value.message == ('pods "p" is forbidden: failed quota: q: must specify limits.memory for: a,b; '
                               "requests.cpu for: b")


async def test_exceeding_memory_reports_only_exceeded_resources() -> None:
    access = FakeAccess()
    access.put("", "resourcequotas", quota(hard={"pods": "10", "requests.memory": "1Gi"},
                                           status={"hard": {"pods": "10", "requests.memory": "1Gi"},
                                                   "used": {"pods": "1", "requests.memory": "768Mi"}}))
    pod = make_pod(containers=[container(requests={"memory": "512Mi"})])
    with pytest.raises(StatusError) as e:
        await resource_quota.new().validate(attrs(access, "pods", pod))
    assert e.value.message.endswith("exceeded quota: q, requested: requests.memory=512Mi, "
                                    "used: requests.memory=768Mi, limited: requests.memory=1Gi")


async def test_object_counts_and_unrelated_quotas() -> None:
    access = FakeAccess()
    access.put("", "resourcequotas", quota("counts", hard={"configmaps": "1", "count/deployments.apps": "1"}))
    access.put("", "resourcequotas", quota("pods-only", hard={"pods": "1"}))
    await resource_quota.new().validate(attrs(access, "configmaps", {"metadata": {"name": "c1", "namespace": "ns"}}))
    await resource_quota.new().validate(attrs(access, "deployments", {"metadata": {"name": "d", "namespace": "ns"}},
                                        group="apps"))
    assert used(access, "counts") == {"configmaps": "1", "count/deployments.apps": "1"}
    assert "status" not in access.obj("", "resourcequotas", "ns", "pods-only")
    with pytest.raises(StatusError) as e:
        await resource_quota.new().validate(attrs(access, "configmaps", {"metadata": {"name": "c2", "namespace": "ns"}}))
    assert "exceeded quota: counts, requested: configmaps=1, used: configmaps=1, limited: configmaps=1" in e.value.message


async def test_scopes_select_pods() -> None:
    access = FakeAccess()
    access.put("", "resourcequotas", quota("be", hard={"pods": "1"}, scopes=["BestEffort"],
                                           status={"hard": {"pods": "1"}, "used": {"pods": "1"}}))
    # Not best effort: the BestEffort quota does not cover it.
    await resource_quota.new().validate(attrs(access, "pods", make_pod(containers=[container(requests={"cpu": "1"})])))
    with pytest.raises(StatusError):
        await resource_quota.new().validate(attrs(access, "pods", make_pod()))


async def test_dry_run_checks_without_charging() -> None:
    access = FakeAccess()
    access.put("", "resourcequotas", quota(status={"hard": {"pods": "2"}, "used": {"pods": "0"}}))
    await resource_quota.new().validate(attrs(access, "pods", make_pod(), dry_run=True))
    assert used(access) == {"pods": "0"}


async def test_concurrent_creates_cannot_exceed() -> None:
    access = FakeAccess()
    access.put("", "resourcequotas", quota(hard={"pods": "3"}, status={"hard": {"pods": "3"}, "used": {"pods": "0"}}))
    plugin = resource_quota.new()
    results = await asyncio.gather(*(plugin.validate(attrs(access, "pods", make_pod(f"p{i}"))) for i in range(6)),
                                   return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["NoneType"] * 3 + ["StatusError"] * 3
    assert used(access) == {"pods": "3"}


async def test_two_servers_with_stale_caches_cannot_exceed() -> None:
    """Each server's first read of the quota is stale (its cache lags the other's write): the
    compare-and-swap fails and the charge is checked again on the fresh quota."""
    access = FakeAccess()
    access.put("", "resourcequotas", quota(hard={"pods": "1"}, status={"hard": {"pods": "1"}, "used": {"pods": "0"}}))
    stale = access.objects[("", "resourcequotas", "ns", "q")]
    real_get = access.get
    seen: set[int] = set()

    async def lagging_get(group, plural, namespace, name):
        task = id(asyncio.current_task())
        if task not in seen:
            seen.add(task)
            return stale
        return await real_get(group, plural, namespace, name)

    access.get = lagging_get  # type: ignore[method-assign]
    first, second = resource_quota.new(), resource_quota.new()

    async def create(plugin, name):
        await plugin.validate(attrs(access, "pods", make_pod(name)))

    await asyncio.create_task(create(first, "a"))
    with pytest.raises(StatusError) as e:
        await asyncio.create_task(create(second, "b"))
    assert e.value.code == 403 and "used: pods=1, limited: pods=1" in e.value.message
    assert access.conflicts == 1 and access.refreshes == 1
    assert used(access) == {"pods": "1"}

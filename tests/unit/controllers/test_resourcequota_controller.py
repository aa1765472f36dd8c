from navarch.controllers.resourcequota import ResourceQuotaController
from tests.unit.controllers.hygiene_fakes import fill, make_ctx


def pod(name: str, cpu: str = "100m", phase: str = "Running") -> dict:
    return {"metadata": {"name": name, "namespace": "ns"},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]},
            "status": {"phase": phase}}


def quota(hard: dict, status: dict | None = None) -> dict:
    obj = {"metadata": {"name": "q", "namespace": "ns", "resourceVersion": "5"}, "spec": {"hard": hard}}
    if status is not None:
        obj["status"] = status
    return obj


def setup(q: dict, *pods: dict, **objects: list[dict]):
    ctx, api, _ = make_ctx()
    c = ResourceQuotaController(ctx)
    api.put("resourcequotas", q)
    fill(ctx, "resourcequotas", q)
    fill(ctx, "pods", *pods)
    for plural, items in objects.items():
        fill(ctx, plural, *items)  # watched kinds are read from the informers...
        for o in items:
            api.put(plural, o)  # ...others are listed
    return c, api


async def test_sync_counts_live_objects_and_writes_status() -> None:
    hard = {"pods": "10", "requests.cpu": "2", "configmaps": "5", "count/deployments.apps": "3"}
    c, api = setup(quota(hard), pod("a"), pod("b", "250m"), pod("done", phase="Succeeded"),
                   configmaps=[{"metadata": {"name": "x", "namespace": "ns"}}],
                   deployments=[{"metadata": {"name": "d", "namespace": "ns"}},
                                {"metadata": {"name": "elsewhere", "namespace": "other"}}])
    await c.sync("ns/q")
    status = api.objects[("resourcequotas", "ns", "q")]["status"]
    assert status == {"hard": hard, "used": {"configmaps": "1", "count/deployments.apps": "1", "pods": "2",
                                             "requests.cpu": "350m"}}


async def test_unchanged_status_is_not_written() -> None:
    q = quota({"pods": "10"}, {"hard": {"pods": "10"}, "used": {"pods": "1"}})
    c, api = setup(q, pod("a"))
    await c.sync("ns/q")
    assert not [w for w in api.writes if w[0].startswith("update")]


async def test_pod_deletion_and_completion_enqueue_the_namespace_quotas() -> None:
    q = quota({"pods": "10"}, {"hard": {"pods": "10"}, "used": {"pods": "2"}})
    c, _ = setup(q, pod("a"), pod("b"))
    while len(c.queue):
        c.queue.done(await c.queue.get())
    c._object_updated("pods", pod("a"), pod("a"))  # still running: nothing given back
    assert len(c.queue) == 0
    c._object_updated("pods", pod("a"), pod("a", phase="Failed"))
    assert len(c.queue) == 1
    c._object_deleted(pod("b"))
    assert len(c.queue) == 1  # merged: one key per quota

import asyncio

from navarch.machinery.factory import SharedInformerFactory
from tests.unit.machinery.fakes import ScriptedClient, list_result, obj


async def test_one_informer_per_resource_and_filter():
    f = SharedInformerFactory(ScriptedClient(), resync=0)  # type: ignore[arg-type]
    pods = f.informer("pods")
    assert f.informer("v1/pods") is pods
    assert f.informer(pods.res) is pods
    assert f.informer("pods", namespace="kube-system") is not pods
    assert f.informer("pods", label_selector="app=x") is not pods
    assert f.informer("apps/v1/deployments") is f.informer("deployments.apps")
    assert len(f.informers()) == 4


async def test_start_sync_and_stop():
    c = ScriptedClient()
    c.lists.append(list_result(3, obj("a", 2, app="web"), obj("b", 3, app="db")))
    f = SharedInformerFactory(c)  # type: ignore[arg-type]
    lister = f.lister("configmaps")
    f.start()
    assert await f.wait_for_cache_sync(timeout=5)
    assert [o["metadata"]["name"] for o in lister.list(selector="app=web")] == ["a"]
    late = f.informer("secrets")  # requested after start: started by the next start()
    assert not late.started
    f.start()
    assert late.started
    assert not await f.wait_for_cache_sync(timeout=0.05)  # secrets never list in this script
    await f.stop()
    assert all(not inf.started for inf in f.informers())
    await asyncio.sleep(0)

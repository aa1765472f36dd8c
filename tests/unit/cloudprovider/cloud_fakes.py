"""A cloud context over the in-memory API of the controller tests."""

from __future__ import annotations

from typing import Any

from navarch.cloudprovider.controllers import CloudContext
from navarch.machinery.clock import FakeClock
from navarch.machinery.factory import SharedInformerFactory
from tests.unit.controllers.hygiene_fakes import Events, FakeApi, fill


def make_cloud_ctx(cloud: Any, **options: Any) -> tuple[CloudContext, FakeApi, Events]:
    api, events, clock = FakeApi(), Events(), FakeClock()
    factory = SharedInformerFactory(api, clock=clock)  # type: ignore[arg-type]
    ctx = CloudContext(client=api, factory=factory, recorder=events, clock=clock,  # type: ignore[arg-type]
                       options=dict(options), cloud=cloud, cluster_name="kubernetes")
    if cloud is not None:
        cloud.initialize(ctx)
    return ctx, api, events


def put(ctx: CloudContext, api: FakeApi, plural: str, *objs: dict[str, Any]) -> None:
    """Store objects in the fake API and show them to the informers, as a watch would."""
    for o in objs:
        api.put(plural, o)
    fill(ctx, plural, *objs)


def refresh(ctx: CloudContext, api: FakeApi, plural: str) -> None:
    """Make an informer's cache match the fake API again (after the controller's own writes)."""
    ctx.factory.informer(plural).indexer.replace([o for (p, _ns, _n), o in api.objects.items() if p == plural])

import pytest

from navarch.api.resources import REGISTRY
from navarch.client.resolve import resolve


@pytest.mark.parametrize("ref,gvr", [
    ("pods", ("", "v1", "pods")),
    ("po", ("", "v1", "pods")),
    ("pod", ("", "v1", "pods")),
    ("v1/pods", ("", "v1", "pods")),
    ("apps/v1/deployments", ("apps", "v1", "deployments")),
    ("deployments.apps", ("apps", "v1", "deployments")),
    ("deploy", ("apps", "v1", "deployments")),
    ("events", ("", "v1", "events")),
    ("events.events.k8s.io", ("events.k8s.io", "v1", "events")),
    ("leases", ("coordination.k8s.io", "v1", "leases")),
], ids=lambda v: str(v))
def test_resolve(ref, gvr):
    r = resolve(ref)
    assert (r.group, r.version, r.plural) == gvr


def test_resource_info_passes_through_and_unknown_fails():
    pods = REGISTRY.get("", "v1", "pods")
    assert resolve(pods) is pods
    for bad in ["nope", "apps/v9/deployments", "a/b/c/d"]:
        with pytest.raises(ValueError):
            resolve(bad)

import pytest

from navarch.api.errors import StatusError
from navarch.apiserver.admission import limit_ranger
from tests.unit.apiserver.admission.fakes import FakeAccess, attrs, container, make_pod


def access_with(*items: dict, name: str = "limits") -> FakeAccess:
    access = FakeAccess()
    access.put("", "limitranges", {"metadata": {"name": name, "namespace": "ns"}, "spec": {"limits": list(items)}})
    return access


async def admit_and_validate(access: FakeAccess, obj: dict, plural: str = "pods") -> None:
    a = attrs(access, plural, obj)
    await limit_ranger.admit(a)
    await limit_ranger.validate(a)


async def test_defaults_fill_missing_requests_and_limits_and_annotate() -> None:
    access = access_with({"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"},
                          "defaultRequest": {"cpu": "100m"}})
    pod = make_pod(containers=[container("web", requests={"memory": "64Mi"})],
                   initContainers=[container("init")])
    await admit_and_validate(access, pod)
    web = pod["spec"]["containers"][0]["resources"]
    assert web == {"requests": {"memory": "64Mi", "cpu": "100m"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
    # A default limit with no default request also becomes the request, as LimitRange defaulting does.
    init = pod["spec"]["initContainers"][0]["resources"]
    assert init["requests"] == {"cpu": "100m", "memory": "256Mi"}
    assert pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu request for container web; cpu, memory limit for container web; "
        "cpu, memory request for init container init; cpu, memory limit for init container init")


async def test_no_limit_range_changes_nothing() -> None:
    pod = make_pod()
    await admit_and_validate(FakeAccess(), pod)
    assert "resources" not in pod["spec"]["containers"][0]
    assert "annotations" not in pod["metadata"]


@pytest.mark.parametrize("item,c,message", [
    ({"type": "Container", "max": {"cpu": "1"}}, container(limits={"cpu": "2"}, requests={"cpu": "2"}),
     "maximum cpu usage per Container is 1, but limit is 2"),
    ({"type": "Container", "min": {"memory": "100Mi"}}, container(requests={"memory": "50Mi"}),
     "minimum memory usage per Container is 100Mi, but request is 50Mi"),
    ({"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}},
     container(requests={"cpu": "100m"}, limits={"cpu": "500m"}),
     "cpu max limit to request ratio per Container is 2, but provided ratio is 5.000000"),
    ({"type": "Pod", "max": {"cpu": "1"}}, container(requests={"cpu": "1"}, limits={"cpu": "1500m"}),
     "maximum cpu usage per Pod is 1, but limit is 1500m"),
], ids=["container-max", "container-min", "ratio", "pod-max"])
async def test_bounds_refuse_with_upstream_message(item: dict, c: dict, message: str) -> None:
    with pytest.raises(StatusError) as e:
        await admit_and_validate(access_with(item), make_pod(containers=[c]))
    assert e.value.code == 403
    assert e.value.message == f'pods "p" is forbidden: {message}'


async def test_several_problems_are_bracketed() -> None:
    item = {"type": "Container", "max": {"cpu": "1", "memory": "1Gi"}}
    pod = make_pod(containers=[container(limits={"cpu": "2", "memory": "2Gi"}, requests={"cpu": "1", "memory": "1Gi"})])
    with pytest.raises(StatusError) as e:
        await admit_and_validate(access_with(item), pod)
    assert e.value.message == ('pods "p" is forbidden: [maximum cpu usage per Container is 1, but limit is 2, '
                               "maximum memory usage per Container is 1Gi, but limit is 2Gi]")


async def test_max_defaults_the_limit_so_a_bare_pod_fits() -> None:
    pod = make_pod()
    await admit_and_validate(access_with({"type": "Container", "max": {"cpu": "1"}}), pod)
    assert pod["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}


async def test_claim_bounds() -> None:
    access = access_with({"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}})
    claim = {"metadata": {"name": "data", "namespace": "ns"}, "spec": {"resources": {"requests": {"storage": "20Gi"}}}}
    with pytest.raises(StatusError) as e:
        await admit_and_validate(access, claim, "persistentvolumeclaims")
    assert e.value.message == ('persistentvolumeclaims "data" is forbidden: maximum storage usage per '
                               "PersistentVolumeClaim is 10Gi, but request is 20Gi")
    claim["spec"]["resources"]["requests"]["storage"] = "5Gi"
    await admit_and_validate(access, claim, "persistentvolumeclaims")

import pytest

from navarch.api.errors import StatusError
from navarch.apiserver.admission import namespace_lifecycle
from tests.unit.apiserver.admission.fakes import FakeAccess, attrs, make_pod, namespace


async def test_create_in_missing_namespace_is_not_found() -> None:
    with pytest.raises(StatusError) as e:
        await namespace_lifecycle.admit(attrs(FakeAccess(), "pods", make_pod()))
    assert (e.value.code, e.value.message) == (404, 'namespaces "ns" not found')


async def test_create_in_terminating_namespace_is_forbidden_with_cause() -> None:
    access = FakeAccess()
    access.put("", "namespaces", {**namespace(), "status": {"phase": "Terminating"}})
    with pytest.raises(StatusError) as e:
        await namespace_lifecycle.admit(attrs(access, "configmaps", {"metadata": {"name": "cm", "namespace": "ns"}}))
    assert e.value.code == 403
    assert e.value.message == ('configmaps "cm" is forbidden: unable to create new content in namespace ns '
                               "because it is being terminated")
    assert e.value.causes[0].reason == "NamespaceTerminating"


async def test_qualified_resource_in_message_and_updates_allowed_while_terminating() -> None:
    access = FakeAccess()
    access.put("", "namespaces", {**namespace(), "status": {"phase": "Terminating"}})
    dep = {"metadata": {"name": "d", "namespace": "ns"}}
    with pytest.raises(StatusError) as e:
        await namespace_lifecycle.admit(attrs(access, "deployments", dep, group="apps"))
    assert e.value.message.startswith('deployments.apps "d" is forbidden')
    await namespace_lifecycle.admit(attrs(access, "deployments", dep, group="apps", op="UPDATE", old=dep))


async def test_active_namespace_admits() -> None:
    access = FakeAccess()
    access.put("", "namespaces", {**namespace(), "status": {"phase": "Active"}})
    await namespace_lifecycle.admit(attrs(access, "pods", make_pod()))


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
async def test_system_namespaces_cannot_be_deleted(name: str) -> None:
    a = attrs(FakeAccess(), "namespaces", None, op="DELETE", old=namespace(name))
    with pytest.raises(StatusError) as e:
        await namespace_lifecycle.admit(a)
    assert e.value.code == 403
    assert e.value.message == f'namespaces "{name}" is forbidden: this namespace may not be deleted'


async def test_other_namespaces_can_be_deleted() -> None:
    await namespace_lifecycle.admit(attrs(FakeAccess(), "namespaces", None, op="DELETE", old=namespace("dev")))

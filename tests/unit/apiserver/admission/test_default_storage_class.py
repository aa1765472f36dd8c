from navarch.apiserver.admission import default_storage_class
from tests.unit.apiserver.admission.fakes import FakeAccess, attrs

DEFAULT = {"storageclass.kubernetes.io/is-default-class": "true"}


def sc(name: str, created: str, annotations: dict[str, str] | None = None) -> dict:
    return {"metadata": {"name": name, "creationTimestamp": created, "annotations": annotations or {}},
            "provisioner": "x"}


def pvc(**spec) -> dict:
    return {"metadata": {"name": "data", "namespace": "ns"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, **spec}}


def access_with(*classes: dict) -> FakeAccess:
    access = FakeAccess()
    for c in classes:
        access.put("storage.k8s.io", "storageclasses", c)
    return access


async def test_claim_without_class_gets_newest_default() -> None:
    access = access_with(sc("old", "2024-01-01T00:00:00Z", DEFAULT), sc("new", "2025-01-01T00:00:00Z", DEFAULT),
                         sc("plain", "2026-01-01T00:00:00Z"))
    claim = pvc()
    await default_storage_class.admit(attrs(access, "persistentvolumeclaims", claim))
    assert claim["spec"]["storageClassName"] == "new"


async def test_explicit_and_empty_class_are_kept() -> None:
    access = access_with(sc("std", "2024-01-01T00:00:00Z", DEFAULT))
    for given in ("fast", ""):
        claim = pvc(storageClassName=given)
        await default_storage_class.admit(attrs(access, "persistentvolumeclaims", claim))
        assert claim["spec"]["storageClassName"] == given


async def test_no_default_class_leaves_claim_alone() -> None:
    claim = pvc()
    await default_storage_class.admit(attrs(access_with(sc("plain", "2024-01-01T00:00:00Z")),
                                            "persistentvolumeclaims", claim))
    assert "storageClassName" not in claim["spec"]


def test_equal_times_pick_first_name() -> None:
    t = "2024-01-01T00:00:00Z"
    assert default_storage_class.pick_default([sc("b", t, DEFAULT), sc("a", t, DEFAULT)])["metadata"]["name"] == "a"

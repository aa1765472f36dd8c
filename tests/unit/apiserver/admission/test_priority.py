import pytest

from navarch.api.errors import StatusError
from navarch.apiserver.admission import priority
from tests.unit.apiserver.admission.fakes import FakeAccess, attrs, make_pod

G = "scheduling.k8s.io"


def pc(name: str, value: int, default: bool = False, policy: str = "PreemptLowerPriority") -> dict:
    return {"metadata": {"name": name}, "value": value, "globalDefault": default, "preemptionPolicy": policy}


async def test_class_sets_priority_and_policy() -> None:
    access = FakeAccess()
    access.put(G, "priorityclasses", pc("high", 1000, policy="Never"))
    pod = make_pod(priorityClassName="high")
    await priority.admit(attrs(access, "pods", pod))
    assert (pod["spec"]["priority"], pod["spec"]["preemptionPolicy"]) == (1000, "Never")


async def test_missing_class_is_forbidden() -> None:
    with pytest.raises(StatusError) as e:
        await priority.admit(attrs(FakeAccess(), "pods", make_pod(priorityClassName="nope")))
    assert e.value.code == 403
    assert e.value.message == 'pods "p" is forbidden: no PriorityClass with name nope was found'


async def test_system_classes_known_without_objects() -> None:
    pod = make_pod(priorityClassName="system-node-critical")
    await priority.admit(attrs(FakeAccess(), "pods", pod))
    assert pod["spec"]["priority"] == 2000001000


async def test_global_default_applies_lowest_value() -> None:
    access = FakeAccess()
    access.put(G, "priorityclasses", pc("a", 500, default=True))
    access.put(G, "priorityclasses", pc("b", 100, default=True))
    # As the API server's defaulting leaves it for a pod without a class.
    pod = make_pod(priority=0, preemptionPolicy="PreemptLowerPriority")
    await priority.admit(attrs(access, "pods", pod))
    assert (pod["spec"]["priorityClassName"], pod["spec"]["priority"]) == ("b", 100)


async def test_no_default_gives_zero() -> None:
    pod = make_pod()
    await priority.admit(attrs(FakeAccess(), "pods", pod))
    assert (pod["spec"]["priority"], pod["spec"]["preemptionPolicy"]) == (0, "PreemptLowerPriority")


async def test_stated_priority_that_differs_is_forbidden() -> None:
    access = FakeAccess()
    access.put(G, "priorityclasses", pc("high", 1000))
    with pytest.raises(StatusError) as e:
        await priority.admit(attrs(access, "pods", make_pod(priorityClassName="high", priority=5)))
    assert e.value.message == ('pods "p" is forbidden: the integer value of priority (5) must not be provided in '
                               "pod spec; priority admission controller computed 1000 from the given PriorityClass name")


async def test_only_one_global_default() -> None:
    access = FakeAccess()
    access.put(G, "priorityclasses", pc("a", 1, default=True))
    with pytest.raises(StatusError) as e:
        await priority.validate(attrs(access, "priorityclasses", pc("b", 2, default=True), group=G))
    assert e.value.message == ('priorityclasses.scheduling.k8s.io "b" is forbidden: PriorityClass a is marked as '
                               "default. Only one default can exist")
    await priority.validate(attrs(access, "priorityclasses", pc("a", 3, default=True), group=G, op="UPDATE",
                                  old=pc("a", 1, default=True)))

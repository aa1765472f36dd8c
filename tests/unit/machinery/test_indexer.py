import copy

import pytest

from navarch.machinery.cache import CachedObjectMutated, DeletedFinalStateUnknown, final_state, object_key, split_key
from navarch.machinery.indexer import NODE_INDEX, OWNER_INDEX, Indexer


def make_pod(name: str, ns: str = "default", node: str = "", owner: str = "", labels: dict | None = None) -> dict:
    meta: dict = {"name": name, "namespace": ns, "labels": labels or {}}
    if owner:
        meta["ownerReferences"] = [{"uid": owner, "kind": "ReplicaSet", "name": "rs", "controller": True}]
    return {"kind": "Pod", "metadata": meta, "spec": {"nodeName": node} if node else {}}


@pytest.mark.parametrize("obj,key", [
    (make_pod("a", "ns1"), "ns1/a"),
    ({"metadata": {"name": "n1"}}, "n1"),
    (DeletedFinalStateUnknown("ns/x", {}), "ns/x"),
], ids=["namespaced", "cluster-scoped", "tombstone"])
def test_object_key(obj, key):
    assert object_key(obj) == key


def test_split_key_and_nameless_object():
    assert split_key("ns/a") == ("ns", "a")
    assert split_key("node1") == (None, "node1")
    with pytest.raises(ValueError):
        object_key({"metadata": {}})


def test_tombstone_reads_through_to_last_state():
    pod = make_pod("a")
    tomb = DeletedFinalStateUnknown("default/a", pod)
    assert tomb["metadata"]["name"] == "a"
    assert tomb.get("spec") == {}
    assert final_state(tomb) is pod and final_state(pod) is pod


def test_indexes_follow_updates_and_deletes():
    idx = Indexer()
    idx.add(make_pod("a", node="n1", owner="u1"))
    idx.add(make_pod("b", node="n1"))
    idx.add(make_pod("c", ns="other", node="n2", owner="u1"))
    assert [object_key(o) for o in idx.by_index(NODE_INDEX, "n1")] == ["default/a", "default/b"]
    assert idx.index_keys(OWNER_INDEX, "u1") == ["default/a", "other/c"]
    assert idx.index_keys("namespace", "other") == ["other/c"]
    old = idx.update(make_pod("a", node="n2"))  # moved node, lost owner
    assert old is not None and old["spec"]["nodeName"] == "n1"
    assert idx.index_keys(NODE_INDEX, "n1") == ["default/b"]
    assert idx.index_keys(NODE_INDEX, "n2") == ["default/a", "other/c"]
    assert idx.index_keys(OWNER_INDEX, "u1") == ["other/c"]
    idx.delete("other/c")
    assert idx.index_values(OWNER_INDEX) == []
    assert len(idx) == 2 and "default/a" in idx and idx.get("other/c") is None


def test_replace_rebuilds_everything():
    idx = Indexer()
    idx.add(make_pod("a", node="n1"))
    idx.replace([make_pod("b", node="n2")])
    assert idx.list_keys() == ["default/b"]
    assert idx.index_values(NODE_INDEX) == ["n2"]


def test_custom_indexers_added_late_index_existing_objects():
    idx = Indexer()
    idx.add(make_pod("a", labels={"app": "web"}))
    idx.add_indexers({"app": lambda o: [o["metadata"]["labels"]["app"]] if "app" in o["metadata"]["labels"] else []})
    idx.add(make_pod("b", labels={"app": "web"}))
    assert idx.index_keys("app", "web") == ["default/a", "default/b"]
    with pytest.raises(ValueError):
        idx.add_indexers({"app": lambda o: []})
    with pytest.raises(KeyError):
        idx.by_index("nope", "x")


def test_debug_mode_catches_in_place_mutation():
    idx = Indexer(debug=True)
    pod = make_pod("a")
    idx.add(pod)
    copied = copy.deepcopy(idx.get("default/a"))
    copied["metadata"]["labels"]["x"] = "1"  # the right way: copy, then mutate
    idx.verify()
    idx.get("default/a")["metadata"]["labels"]["x"] = "1"  # the wrong way
    with pytest.raises(CachedObjectMutated):
        idx.verify()
    with pytest.raises(CachedObjectMutated):
        idx.update(make_pod("a"))

import orjson
import pytest

from navarch.apiserver.watchcache import CacheEvent, ResourceCache, Watcher, stamp
from navarch.storage import KeyValue


def test_entry_copy_equals_the_cached_object_and_is_private():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
           "spec": {"containers": [{"name": "c", "image": "i"}]}, "status": {"ratio": 0.25, "ok": True}}
    entry = stamp(KeyValue("/registry/core/pods/ns/p", orjson.dumps(pod), 3, 7))
    copied = entry.copy()
    assert copied == entry.obj
    assert copied["metadata"]["resourceVersion"] == "7"
    copied["spec"]["containers"][0]["image"] = "other"
    copied["metadata"]["labels"]["a"] = "c"
    assert entry.obj["spec"]["containers"][0]["image"] == "i"
    assert entry.obj["metadata"]["labels"] == {"a": "b"}


PODS = "/registry/core/pods/"


def _pod_entry(name: str, node: str | None, rev: int):
    spec = {"nodeName": node} if node else {}
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "ns"}, "spec": spec}
    return stamp(KeyValue(f"{PODS}ns/{name}", orjson.dumps(obj), rev, rev))


def _drain(w: Watcher) -> list[str]:
    out = []
    while not w.queue.empty():
        ev = w.queue.get_nowait()
        out.append(f"{ev.type} {ev.entry.obj['metadata']['name']}")
    return out


def _apply(cache: ResourceCache, type_: str, entry, prev=None) -> None:
    cache.apply(CacheEvent(type_, entry, prev, entry.revision, 0.0))


@pytest.mark.parametrize("trigger,expected", [
    (None, ["ADDED a", "MODIFIED a", "MODIFIED a", "ADDED b", "DELETED a"]),
    (("spec.nodeName", "n1"), ["MODIFIED a", "MODIFIED a", "DELETED a"]),  # was on n1, or is
    (("spec.nodeName", "n2"), ["MODIFIED a"]),  # a arrived on n2 once
    (("spec.nodeName", ""), ["ADDED a", "MODIFIED a", "ADDED b"]),  # unscheduled pods
    (("metadata.name", "b"), ["ADDED b"]),
], ids=["all", "node-n1", "node-n2", "no-node", "name"])
def test_triggered_watchers_get_only_the_events_of_their_value(trigger, expected):
    cache = ResourceCache(PODS)
    w = Watcher(PODS, None, trigger=trigger)
    cache.subscribe(w)
    a0, a1, a2 = _pod_entry("a", None, 1), _pod_entry("a", "n1", 2), _pod_entry("a", "n2", 3)
    _apply(cache, "ADDED", a0)
    _apply(cache, "MODIFIED", a1, a0)  # bound to n1
    _apply(cache, "MODIFIED", a2, a1)  # moved to n2 (not something pods do; it exercises "had")
    _apply(cache, "ADDED", _pod_entry("b", None, 4))
    gone = _pod_entry("a", "n1", 5)
    _apply(cache, "DELETED", gone, gone)
    assert _drain(w) == expected


def test_unsubscribe_forgets_triggered_watchers():
    cache = ResourceCache(PODS)
    w = Watcher(PODS, None, trigger=("spec.nodeName", "n1"))
    cache.subscribe(w)
    cache.unsubscribe(w)
    _apply(cache, "ADDED", _pod_entry("a", "n1", 1))
    assert _drain(w) == [] and not cache.watchers
    cache.subscribe(w)
    cache.unsubscribe_all()
    assert not cache.watchers

import pytest

from navarch.api import selectors
from navarch.api.errors import StatusError
from navarch.machinery.indexer import Indexer
from navarch.machinery.listers import Lister


def pod(name: str, ns: str, **labels: str) -> dict:
    return {"metadata": {"name": name, "namespace": ns, "labels": labels}}


@pytest.fixture
def lister() -> Lister:
    idx = Indexer()
    for p in [pod("a", "ns1", app="web", tier="fe"), pod("b", "ns1", app="db"), pod("c", "ns2", app="web")]:
        idx.add(p)
    idx.add({"metadata": {"name": "node1"}})
    return Lister(idx)


@pytest.mark.parametrize("namespace,selector,names", [
    (None, None, ["a", "b", "c", "node1"]),
    ("ns1", None, ["a", "b"]),
    (None, "app=web", ["a", "c"]),
    ("ns1", "app in (web,db),tier!=fe", ["b"]),
    (None, {"matchLabels": {"app": "web"}}, ["a", "c"]),
    (None, {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, ["a"]),
    (None, {}, ["a", "b", "c", "node1"]),
    (None, selectors.label_selector_from_set({"app": "db"}), ["b"]),
], ids=["all", "namespace", "string", "string-set-based", "matchLabels", "matchExpressions", "empty-dict",
        "selector-object"])
def test_list(lister, namespace, selector, names):
    assert sorted(o["metadata"]["name"] for o in lister.list(namespace, selector)) == names


def test_get(lister):
    assert lister.get("ns1", "a")["metadata"]["name"] == "a"
    assert lister.get(None, "node1") is not None
    assert lister.get("ns2", "a") is None


def test_bad_selector_is_a_400(lister):
    with pytest.raises(StatusError) as e:
        lister.list(None, "app in (")
    assert e.value.code == 400

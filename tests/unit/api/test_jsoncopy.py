import datetime as dt

import pytest

from navarch.api import jsoncopy

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "p", "labels": {"app": "x"}, "managedFields": [{"fieldsV1": {"f:spec": {}}}]},
       "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}], "resources": {}}],
                "priority": 0, "enableServiceLinks": True, "overhead": None},
       "status": {"conditions": [{"type": "PodScheduled", "lastProbeTime": None}], "ratio": 0.5}}


def _containers(value):
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from _containers(v)
    elif isinstance(value, list):
        yield value
        for v in value:
            yield from _containers(v)


def test_copy_is_equal_and_shares_no_container():
    out = jsoncopy.deep_copy(POD)
    assert out == POD
    assert list(out) == list(POD)  # key order kept
    originals = {id(c) for c in _containers(POD)}
    assert not originals & {id(c) for c in _containers(out)}


def test_mutating_the_copy_leaves_the_original():
    out = jsoncopy.deep_copy(POD)
    out["spec"]["containers"][0]["ports"].append({"containerPort": 81})
    out["metadata"]["labels"]["app"] = "y"
    assert POD["spec"]["containers"][0]["ports"] == [{"containerPort": 80}]
    assert POD["metadata"]["labels"] == {"app": "x"}


@pytest.mark.parametrize("value", [
    {"when": dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)}, {"pair": (1, [2])}, [{"k": {1, 2}}],
], ids=["datetime", "tuple", "set"])
def test_values_other_than_json_go_through_deepcopy(value):
    out = jsoncopy.deep_copy(value)
    assert out == value
    assert type(out) is type(value)

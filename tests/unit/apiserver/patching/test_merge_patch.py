from __future__ import annotations

import json
from typing import Any

import pytest

from navarch.api.errors import StatusError
from navarch.apiserver.patching import merge_patch


def make_deployment() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "labels": {"app": "web", "tier": "fe"}},
            "spec": {"replicas": 1, "paused": True,
                     "template": {"spec": {"containers": [{"name": "a", "image": "v1"}, {"name": "b"}]}}}}


CASES = [
    pytest.param({"spec": {"replicas": 3}}, lambda d: d["spec"]["replicas"] == 3, id="scale"),
    pytest.param({"spec": {"paused": None}}, lambda d: "paused" not in d["spec"], id="null-deletes"),
    pytest.param({"metadata": {"labels": {"tier": None, "new": "x"}}},
                 lambda d: d["metadata"]["labels"] == {"app": "web", "new": "x"}, id="label-edit"),
    pytest.param({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "v2"}]}}}},
                 lambda d: d["spec"]["template"]["spec"]["containers"] == [{"name": "a", "image": "v2"}],
                 id="lists-replace"),
    pytest.param({"status": {"observed": 1, "gone": None, "nested": {"x": None, "y": [None, {"z": None}]}}},
                 lambda d: d["status"] == {"observed": 1, "nested": {"y": [None, {}]}}, id="added-object-pruned"),
    pytest.param({"metadata": {"labels": "flat"}}, lambda d: d["metadata"]["labels"] == "flat", id="type-change"),
    pytest.param({"absent": None}, lambda d: d == make_deployment(), id="null-on-absent-key"),
    pytest.param({}, lambda d: d == make_deployment(), id="empty"),
]


@pytest.mark.parametrize(("patch", "check"), CASES)
def test_merge_patch(patch: dict[str, Any], check: Any) -> None:
    doc = make_deployment()
    result = merge_patch(doc, json.dumps(patch).encode())
    assert doc == make_deployment()
    assert check(result), result


@pytest.mark.parametrize(("body", "code"), [
    pytest.param(b"null", 400, id="null"),
    pytest.param(b'"x"', 400, id="string"),
    pytest.param(b"3", 400, id="number"),
    pytest.param(b"[1]", 422, id="array-replaces-object"),
    pytest.param(b"metadata:\n  labels: {}\n", 400, id="yaml"),
    pytest.param(b"", 400, id="empty-body"),
])
def test_merge_patch_errors(body: bytes, code: int) -> None:
    with pytest.raises(StatusError) as info:
        merge_patch(make_deployment(), body)
    assert info.value.code == code
    assert info.value.message


def test_result_is_independent_of_input() -> None:
    doc = make_deployment()
    result = merge_patch(doc, b'{"spec": {"replicas": 2}}')
    result["metadata"]["labels"]["app"] = "changed"
    assert doc == make_deployment()

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from navarch.api.errors import StatusError
from navarch.apiserver.patching import json_patch


def make_pod() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"app": "web"}, "annotations": {"a/b": "1"}},
            "spec": {"containers": [{"name": "a", "image": "v1"}]}}


def apply(doc: dict[str, Any], ops: Any) -> dict[str, Any]:
    return json_patch(doc, json.dumps(ops).encode())


CASES = [
    pytest.param([{"op": "replace", "path": "/spec/containers/0/image", "value": "v2"}],
                 lambda p: p["spec"]["containers"][0]["image"] == "v2", id="replace"),
    pytest.param([{"op": "add", "path": "/metadata/labels/tier", "value": "fe"}],
                 lambda p: p["metadata"]["labels"] == {"app": "web", "tier": "fe"}, id="add"),
    pytest.param([{"op": "add", "path": "/spec/containers/-", "value": {"name": "b"}}],
                 lambda p: [c["name"] for c in p["spec"]["containers"]] == ["a", "b"], id="append"),
    pytest.param([{"op": "remove", "path": "/metadata/annotations/a~1b"}],
                 lambda p: p["metadata"]["annotations"] == {}, id="escaped-path"),
    pytest.param([{"op": "test", "path": "/metadata/name", "value": "p"},
                  {"op": "move", "from": "/metadata/labels", "path": "/metadata/annotations"}],
                 lambda p: p["metadata"] == {"name": "p", "annotations": {"app": "web"}}, id="test-then-move"),
    pytest.param([], lambda p: p == make_pod(), id="empty"),
]


@pytest.mark.parametrize(("ops", "check"), CASES)
def test_json_patch(ops: list[dict[str, Any]], check: Any) -> None:
    doc = make_pod()
    result = apply(doc, ops)
    assert doc == make_pod()
    assert check(result), result


ERRORS = [
    pytest.param([{"op": "test", "path": "/metadata/name", "value": "q"}], 422, id="failing-test"),
    pytest.param([{"op": "remove", "path": "/metadata/missing"}], 422, id="remove-missing"),
    pytest.param([{"op": "replace", "path": "/spec/nope/x", "value": 1}], 422, id="missing-parent"),
    pytest.param([{"op": "frobnicate", "path": "/a"}], 422, id="unknown-op"),
    pytest.param([{"op": "add", "path": "spec", "value": 1}], 422, id="bad-pointer"),
    pytest.param([{"op": "add", "path": "/spec/containers/9", "value": {}}], 422, id="index-out-of-range"),
    pytest.param({"op": "add", "path": "/a", "value": 1}, 400, id="not-an-array"),
    pytest.param(["add"], 400, id="operation-not-an-object"),
]


@pytest.mark.parametrize(("ops", "code"), ERRORS)
def test_json_patch_errors(ops: Any, code: int) -> None:
    doc = make_pod()
    with pytest.raises(StatusError) as info:
        apply(doc, ops)
    assert info.value.code == code
    assert info.value.reason == {400: "BadRequest", 422: "Invalid"}[code]
    assert info.value.message
    assert doc == make_pod()


def test_undecodable_body_is_bad_request() -> None:
    with pytest.raises(StatusError) as info:
        json_patch(make_pod(), b"- op: add\n  path: /a\n")
    assert info.value.code == 400
    assert "error decoding patch" in info.value.message


def test_too_many_operations() -> None:
    ops = [{"op": "test", "path": "/kind", "value": "Pod"}] * 10001
    with pytest.raises(StatusError) as info:
        apply(make_pod(), ops)
    assert info.value.code == 413
    assert "10000, got 10001" in info.value.message


def test_replacing_root_with_non_object_is_invalid() -> None:
    with pytest.raises(StatusError) as info:
        apply(make_pod(), [{"op": "replace", "path": "", "value": [1]}])
    assert (info.value.code, info.value.reason) == (422, "Invalid")
    assert info.value.causes[0].field == "patch"


def test_failing_test_op_message_names_the_values() -> None:
    with pytest.raises(StatusError) as info:
        apply(make_pod(), [{"op": "test", "path": "/metadata/name", "value": "q"}])
    assert "q" in info.value.message


def test_result_is_independent_of_input() -> None:
    doc = make_pod()
    snapshot = copy.deepcopy(doc)
    result = apply(doc, [{"op": "add", "path": "/metadata/labels/x", "value": "y"}])
    result["spec"]["containers"][0]["image"] = "changed"
    assert doc == snapshot

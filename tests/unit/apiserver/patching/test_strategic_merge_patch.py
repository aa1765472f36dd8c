"""Strategic merge patch on real kinds, with the directives kubectl sends (cases after apimachinery's
strategicpatch tests and the patches `kubectl apply` generates)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from navarch.api.errors import StatusError
from navarch.api.schema import load_schema
from navarch.apiserver.patching import strategic_merge_patch

DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"
POD = "io.k8s.api.core.v1.Pod"
SERVICE = "io.k8s.api.core.v1.Service"


def container(name: str, image: str = "img", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **extra}


def make_deployment(*containers: dict[str, Any], strategy: dict[str, Any] | None = None,
                    **metadata: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": 1, "template": {"spec": {"containers": list(containers)}}}
    if strategy is not None:
        spec["strategy"] = strategy
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", **metadata}, "spec": spec}


def make_pod(**spec: Any) -> dict[str, Any]:
    spec.setdefault("containers", [container("a")])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


def make_service(*ports: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": list(ports)}}


def pod_template(**spec: Any) -> dict[str, Any]:
    return {"spec": {"template": {"spec": spec}}}


def smp(doc: dict[str, Any], patch: Any, definition: str | None) -> dict[str, Any]:
    return strategic_merge_patch(doc, json.dumps(patch).encode(), load_schema(), definition)


def containers_of(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return deployment["spec"]["template"]["spec"]["containers"]


CASES = [
    pytest.param(
        make_deployment(container("a", "v1"), container("b")),
        pod_template(containers=[{"name": "a", "image": "v2"}]),
        lambda d: containers_of(d) == [container("a", "v2"), container("b")],
        id="containers-merge-by-name"),
    pytest.param(
        make_deployment(container("a"), container("b")),
        pod_template(containers=[container("c")]),
        # without $setElementOrder upstream puts elements new to the list first
        lambda d: [c["name"] for c in containers_of(d)] == ["c", "a", "b"],
        id="containers-new-element-first-without-order"),
    pytest.param(
        make_deployment(container("a"), container("b")),
        pod_template(**{"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
                        "containers": [container("c")]}),
        lambda d: [c["name"] for c in containers_of(d)] == ["a", "b", "c"],
        id="set-element-order-appends-new-container"),
    pytest.param(
        make_deployment(container("a"), container("b"), container("c")),
        pod_template(**{"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]}),
        lambda d: [c["name"] for c in containers_of(d)] == ["c", "a", "b"],
        id="set-element-order-reorders-only"),
    pytest.param(
        make_deployment(container("1"), container("3")),
        pod_template(**{"$setElementOrder/containers": [{"name": "3"}, {"name": "2"}, {"name": "1"}],
                        "containers": [{"name": "3", "image": "x"}, {"name": "1", "image": "y"}]}),
        lambda d: containers_of(d) == [container("3", "x"), container("1", "y")],
        id="set-element-order-names-absent-element"),
    pytest.param(
        make_deployment(container("1"), container("2", "b"), container("3")),
        pod_template(containers=[{"name": "3", "image": "c"}, {"name": "1", "image": "a"}]),
        # upstream "preserve the order from the patch in a merging list 2"
        lambda d: containers_of(d) == [container("2", "b"), container("3", "c"), container("1", "a")],
        id="order-from-patch-interleaved-with-server-only"),
    pytest.param(
        make_deployment(container("1"), container("1"), container("2"), container("3"), container("3")),
        pod_template(containers=[{"name": "1", "$patch": "delete"}, {"name": "3", "$patch": "delete"}]),
        lambda d: containers_of(d) == [container("2")],
        id="delete-removes-all-duplicates"),
    pytest.param(
        make_deployment(container("a"), container("b")),
        pod_template(containers=[{"name": "a", "$patch": "delete"}]),
        lambda d: containers_of(d) == [container("b")],
        id="containers-patch-delete"),
    pytest.param(
        make_deployment(container("a"), container("b")),
        pod_template(containers=[{"$patch": "replace"}, container("n", "i")]),
        lambda d: containers_of(d) == [container("n", "i")],
        id="containers-patch-replace"),
    pytest.param(
        make_deployment(container("a", env=[{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}])),
        pod_template(containers=[{"name": "a", "env": [{"name": "Y", "value": "3"}]}]),
        lambda d: containers_of(d)[0]["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}],
        id="env-merge-by-name"),
    pytest.param(
        make_deployment(container("a", "old", env=[{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]),
                        container("s", "sidecar")),
        {"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "a"}],
            "containers": [{"env": [{"$patch": "delete", "name": "X"}], "image": "b", "name": "a"}]}}}},
        lambda d: containers_of(d) == [container("a", "b", env=[{"name": "Y", "value": "2"}]),
                                       container("s", "sidecar")],
        id="kubectl-apply-three-way-image-and-env-removal"),
    pytest.param(
        make_deployment(container("a", ports=[{"containerPort": 80, "name": "http"},
                                               {"containerPort": 443, "name": "https"}])),
        pod_template(containers=[{"name": "a", "ports": [{"containerPort": 443, "protocol": "TCP"}]}]),
        lambda d: containers_of(d)[0]["ports"] == [{"containerPort": 80, "name": "http"},
                                                   {"containerPort": 443, "name": "https", "protocol": "TCP"}],
        id="container-ports-merge-by-containerPort"),
    pytest.param(
        make_deployment(container("a"), strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}),
        {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
        lambda d: d["spec"]["strategy"] == {"type": "Recreate"},
        id="retain-keys-deployment-strategy"),
    pytest.param(
        make_deployment(container("a"), strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}),
        {"spec": {"strategy": {"$retainKeys": ["rollingUpdate", "type"], "rollingUpdate": {"maxUnavailable": 0}}}},
        lambda d: d["spec"]["strategy"] == {"type": "RollingUpdate",
                                            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        id="retain-keys-keeps-listed-and-merges"),
    pytest.param(
        make_deployment(container("a"), strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}),
        {"spec": {"strategy": {"$patch": "delete"}}},
        lambda d: d["spec"]["strategy"] == {},
        id="map-patch-delete"),
    pytest.param(
        make_deployment(container("a"), labels={"a": "1", "b": "2"}),
        {"metadata": {"labels": {"$patch": "replace", "c": "3"}}},
        lambda d: d["metadata"]["labels"] == {"c": "3"},
        id="map-patch-replace"),
    pytest.param(
        make_deployment(container("a"), labels={"a": "1", "b": "2"}),
        {"metadata": {"labels": {"a": None, "c": "3", "zz": None}}},
        lambda d: d["metadata"]["labels"] == {"b": "2", "c": "3"},
        id="maps-merge-null-deletes"),
    pytest.param(
        make_deployment(container("a"), finalizers=["a", "b"]),
        {"metadata": {"finalizers": ["b", "c"]}},
        lambda d: d["metadata"]["finalizers"] == ["a", "b", "c"],
        id="finalizers-merge-union"),
    pytest.param(
        make_deployment(container("a"), finalizers=["a", "b", "c"]),
        {"metadata": {"finalizers": ["c", "a"]}},
        # upstream "preserve the order from the patch in a merging int list"
        lambda d: d["metadata"]["finalizers"] == ["b", "c", "a"],
        id="finalizers-order-from-patch"),
    pytest.param(
        make_deployment(container("a"), finalizers=["a", "b", "c"]),
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zz"]}},
        lambda d: d["metadata"]["finalizers"] == ["a", "c"],
        id="delete-from-primitive-list-finalizers"),
    pytest.param(
        make_deployment(container("a"), finalizers=["a", "b"]),
        {"metadata": {"$setElementOrder/finalizers": ["a"], "$deleteFromPrimitiveList/finalizers": ["b"]}},
        lambda d: d["metadata"]["finalizers"] == ["a"],
        id="kubectl-apply-finalizer-removal"),
    pytest.param(
        make_deployment(container("a"), finalizers=["a", "b", "c"]),
        {"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"]}},
        lambda d: d["metadata"]["finalizers"] == ["c", "b", "a"],
        id="set-element-order-finalizers"),
    pytest.param(
        make_deployment(container("a")),
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}},
        lambda d: "finalizers" not in d["metadata"],
        id="delete-from-absent-list-is-noop"),
    pytest.param(
        make_pod(tolerations=[{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]),
        {"spec": {"tolerations": [{"key": "c", "operator": "Exists"}]}},
        lambda p: p["spec"]["tolerations"] == [{"key": "c", "operator": "Exists"}],
        id="tolerations-replace"),
    pytest.param(
        make_pod(volumes=[{"name": "v", "emptyDir": {}}, {"name": "w", "emptyDir": {}}]),
        {"spec": {"volumes": [{"name": "x", "configMap": {"name": "cm"}}]}},
        lambda p: [v["name"] for v in p["spec"]["volumes"]] == ["x", "v", "w"],
        id="pod-volumes-merge-by-name"),
    pytest.param(
        make_pod(volumes=[{"name": "v", "emptyDir": {}}, {"name": "w", "emptyDir": {}}]),
        {"spec": {"volumes": [{"$retainKeys": ["configMap", "name"], "name": "v", "configMap": {"name": "cm"}}]}},
        lambda p: p["spec"]["volumes"] == [{"name": "v", "configMap": {"name": "cm"}}, {"name": "w", "emptyDir": {}}],
        id="pod-volume-retain-keys-switches-source"),
    pytest.param(
        make_service({"port": 80, "targetPort": 8080, "protocol": "TCP"}, {"port": 443, "targetPort": 8443}),
        {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}},
        lambda s: s["spec"]["ports"] == [{"port": 80, "targetPort": 9090, "protocol": "TCP"},
                                         {"port": 443, "targetPort": 8443}],
        id="service-ports-merge-by-port"),
    pytest.param(
        make_service({"port": 80}, {"port": 443}),
        {"spec": {"ports": [{"port": 80, "$patch": "delete"}]}},
        lambda s: s["spec"]["ports"] == [{"port": 443}],
        id="service-ports-delete"),
    pytest.param(
        make_deployment(container("a"), ownerReferences=[{"uid": "1", "name": "x"}, {"uid": "2", "name": "y"}]),
        {"metadata": {"ownerReferences": [{"uid": "2", "name": "z"}]}},
        lambda d: d["metadata"]["ownerReferences"] == [{"uid": "1", "name": "x"}, {"uid": "2", "name": "z"}],
        id="owner-references-merge-by-uid"),
    pytest.param(
        make_pod(),
        {"spec": {"securityContext": {"runAsUser": 1, "fsGroup": None, "$patch": "replace"},
                  "volumes": [{"name": "v", "emptyDir": {"medium": None}}, {"name": "gone", "$patch": "delete"}]}},
        lambda p: (p["spec"]["securityContext"] == {"runAsUser": 1}
                   and p["spec"]["volumes"] == [{"name": "v", "emptyDir": {}}]),
        id="new-values-lose-nulls-and-directives"),
    pytest.param(
        make_deployment(container("a"), annotations={"k": "v"}),
        {"metadata": {"annotations": "oops"}},
        lambda d: d["metadata"]["annotations"] == "oops",
        id="type-change-replaces"),
    pytest.param(
        make_deployment(container("a")) | {"extra": {"l": [1, 2], "m": {"x": 1}}},
        {"extra": {"l": [3], "m": {"y": 2}}},
        lambda d: d["extra"] == {"l": [3], "m": {"x": 1, "y": 2}},
        id="unknown-field-falls-back-to-merge-patch"),
    pytest.param(
        make_deployment(container("a"), container("b")),
        pod_template(containers=[container("c")]) | {"metadata": {"labels": {"a": "b"}}},
        lambda d: [c["name"] for c in containers_of(d)] == [container("c")["name"]]
        and d["metadata"]["labels"] == {"a": "b"},
        id="no-schema-lists-replace"),
    pytest.param(
        make_deployment(container("a")),
        None,
        lambda d: d == make_deployment(container("a")),
        id="null-patch-is-noop"),
]


@pytest.mark.parametrize(("doc", "patch", "check"), CASES)
def test_strategic_merge_patch(doc: dict[str, Any], patch: Any, check: Any, request: pytest.FixtureRequest) -> None:
    definition = None if request.node.callspec.id == "no-schema-lists-replace" else (
        POD if doc["kind"] == "Pod" else SERVICE if doc["kind"] == "Service" else DEPLOYMENT)
    before = copy.deepcopy(doc)
    result = smp(doc, patch, definition)
    assert doc == before, "the input document must not change"
    assert check(result), json.dumps(result)


def test_result_shares_nothing_with_input() -> None:
    doc = make_deployment(container("a"), labels={"a": "1"})
    result = smp(doc, {"spec": {"replicas": 2}}, DEPLOYMENT)
    result["metadata"]["labels"]["a"] = "changed"
    containers_of(result)[0]["image"] = "changed"
    assert doc == make_deployment(container("a"), labels={"a": "1"})


ERRORS = [
    pytest.param(b"spec:\n  replicas: 2\n", 400, "error decoding patch", id="yaml-body"),
    pytest.param(b'{"spec": ', 400, "error decoding patch", id="truncated-json"),
    pytest.param(b"[]", 400, "must be a JSON object", id="array-body"),
    pytest.param(pod_template(containers=[{"name": "a", "$patch": "merge"}]), 400,
                 "merging lists cannot yet be specified", id="list-patch-merge"),
    pytest.param({"spec": {"strategy": {"$patch": "bogus"}}}, 400, "unknown patch type", id="map-unknown-directive"),
    pytest.param({"spec": {"strategy": {"$patch": "merge", "type": "Recreate"}}}, 400, "unknown patch type",
                 id="map-patch-merge-rejected-as-upstream"),
    pytest.param(pod_template(containers=[{"image": "x"}]), 400, "does not contain declared merge key: name",
                 id="missing-merge-key"),
    pytest.param(pod_template(containers=[{"$patch": "delete"}]), 400, "does not contain declared merge key",
                 id="delete-without-merge-key"),
    pytest.param({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 2}}}}, 400,
                 "invalid patch format of retainKeys", id="retain-keys-missing-patched-field"),
    pytest.param({"spec": {"strategy": {"$retainKeys": "type"}}}, 400, "invalid patch format of retainKeys",
                 id="retain-keys-not-a-list"),
    pytest.param(pod_template(**{"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                                 "containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}),
                 400, "doesn't match", id="set-element-order-mismatch"),
    pytest.param({"metadata": {"$setElementOrderX": ["a"]}}, 400, "invalid patch format of setElementOrder list",
                 id="set-element-order-bad-key"),
    pytest.param({"metadata": {"$setElementOrder/finalizers": "a"}}, 400,
                 "invalid patch format of setElementOrder list", id="set-element-order-not-a-list"),
    pytest.param({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, 400,
                 "invalid patch format of primitive list", id="delete-list-not-a-list"),
    pytest.param({"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}}, 400,
                 "invalid patch format of primitive list", id="delete-list-bad-key"),
    pytest.param({"metadata": {"finalizers": [1]}}, 400, "list element types are not identical",
                 id="mixed-element-types"),
]


@pytest.mark.parametrize(("patch", "code", "text"), ERRORS)
def test_strategic_merge_patch_errors(patch: Any, code: int, text: str) -> None:
    doc = make_deployment(container("a"), container("b"), finalizers=["x"],
                          strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}})
    body = patch if isinstance(patch, bytes) else json.dumps(patch).encode()
    with pytest.raises(StatusError) as info:
        strategic_merge_patch(doc, body, load_schema(), DEPLOYMENT)
    assert info.value.code == code
    assert text in info.value.message
    assert info.value.reason == ("BadRequest" if code == 400 else "Invalid")


def test_list_of_lists_is_unprocessable() -> None:
    doc = make_deployment(container("a"), finalizers=[])
    with pytest.raises(StatusError) as info:
        smp(doc, {"metadata": {"finalizers": [["a"]]}}, DEPLOYMENT)
    assert (info.value.code, info.value.reason) == (422, "Invalid")
    assert "lists of lists are not supported" in info.value.message

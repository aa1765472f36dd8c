"""Field management: field sets, Update ownership, Apply merge/removal/conflicts, FieldsV1."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from navarch.api import errors
from navarch.api.schema import load_schema
from navarch.apiserver.patching import managedfields as mf

SCHEMA = load_schema()
CM = "io.k8s.api.core.v1.ConfigMap"
DEPLOY = "io.k8s.api.apps.v1.Deployment"
POD = "io.k8s.api.core.v1.Pod"
SVC = "io.k8s.api.core.v1.Service"


def manager(definition: str = CM, api_version: str = "v1", **kw: Any) -> mf.FieldManager:
    return mf.FieldManager(SCHEMA, definition, api_version, **kw)


def make_cm(data: dict[str, str] | None = None, labels: dict[str, str] | None = None,
            managed: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "c", "namespace": "ns"}
    if labels is not None:
        meta["labels"] = labels
    if managed is not None:
        meta["managedFields"] = managed
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
    if data is not None:
        obj["data"] = data
    return obj


def make_deploy(containers: list[dict[str, Any]], replicas: int = 1) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}}}


def entries(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"]): e for e in obj["metadata"].get("managedFields") or []}


def created(obj: dict[str, Any], by: str = "kubectl-create", fm: mf.FieldManager | None = None) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"]["managedFields"] = (fm or manager()).update(None, obj, by, "2024-01-01T00:00:00Z")
    return out


# ------------------------------------------------------------------ field sets


@pytest.mark.parametrize(("obj", "definition", "want"), [
    (make_cm({"a": "1"}, {"x": "y"}), CM,
     {"f:apiVersion": {}, "f:kind": {}, "f:data": {"f:a": {}},
      "f:metadata": {"f:name": {}, "f:namespace": {}, "f:labels": {"f:x": {}}}}),
    (make_cm({}), CM,
     {"f:apiVersion": {}, "f:kind": {}, "f:data": {}, "f:metadata": {"f:name": {}, "f:namespace": {}}}),
    ({"metadata": {"finalizers": ["a", "b"]}}, CM,
     {"f:metadata": {"f:finalizers": {'v:"a"': {}, 'v:"b"': {}}}}),
    ({"spec": {"containers": [{"name": "c", "image": "i", "args": ["x"],
                               "ports": [{"containerPort": 80, "protocol": "UDP"}]}]}}, POD,
     {"f:spec": {"f:containers": {'k:{"name":"c"}': {
         ".": {}, "f:name": {}, "f:image": {}, "f:args": {},
         "f:ports": {'k:{"containerPort":80,"protocol":"UDP"}': {".": {}, "f:containerPort": {}, "f:protocol": {}}}}}}}),
    ({"spec": {"ports": [{"port": 80}]}}, SVC,
     {"f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}}}}),
    ({"spec": {"selector": {"matchLabels": {"a": "b"}}}}, DEPLOY, {"f:spec": {"f:selector": {}}}),
], ids=["configmap", "empty-map-is-a-member", "set-list", "list-maps-with-defaulted-key", "service-ports",
        "atomic-map"])
def test_field_set(obj: dict[str, Any], definition: str, want: dict[str, Any]) -> None:
    assert mf.fields_to_v1(manager(definition).field_set(obj)) == mf.fields_to_v1(mf.fields_from_v1(want))


def test_fieldsv1_round_trip_and_order() -> None:
    v1 = {"f:metadata": {"f:labels": {".": {}, "f:b": {}, "f:a": {}}},
          "f:spec": {"f:containers": {'k:{"name":"c"}': {".": {}, "f:image": {}}}}}
    fields = mf.fields_from_v1(v1)
    assert ("f:metadata", "f:labels") in fields and ("f:metadata",) not in fields
    out = mf.fields_to_v1(fields)
    assert out == v1
    assert list(out["f:metadata"]["f:labels"]) == [".", "f:a", "f:b"]
    # key order inside k: is canonical, whatever a client sent
    assert mf.fields_from_v1({'k:{"protocol":"TCP","containerPort":80}': {}}) == \
        {('k:{"containerPort":80,"protocol":"TCP"}',)}
    with pytest.raises(ValueError):
        mf.fields_from_v1({"x:y": {}})


def test_path_string() -> None:
    assert mf.path_string(("f:data", "f:a")) == ".data.a"
    assert mf.path_string(("f:spec", "f:containers", 'k:{"name":"c"}', "f:image")) == '.spec.containers[name="c"].image'
    assert mf.path_string(("f:ports", 'k:{"containerPort":80,"protocol":"TCP"}')) == '.ports[containerPort=80,protocol="TCP"]'
    assert mf.path_string(("f:metadata", "f:finalizers", 'v:"x"')) == '.metadata.finalizers[="x"]'


@pytest.mark.parametrize(("field_manager", "agent", "want"), [
    ("mine", "kubectl/v1.33.0 (linux/amd64) kubernetes/abc", "mine"),
    ("", "kubectl/v1.33.0 (linux/amd64) kubernetes/abc", "kubectl"),
    ("", "OpenAPI-Generator/31.0.0/python", "OpenAPI-Generator"),
    ("", "", "unknown"),
], ids=["explicit", "kubectl-agent", "python-client", "none"])
def test_manager_name(field_manager: str, agent: str, want: str) -> None:
    assert mf.manager_name(field_manager, agent) == want


# ------------------------------------------------------------------ Update


def test_create_records_the_creator() -> None:
    obj = make_cm({"a": "1"}, {"x": "y"})
    got = manager().update(None, obj, "kubectl-create", "T1")
    assert got == [{"manager": "kubectl-create", "operation": "Update", "apiVersion": "v1", "time": "T1",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {".": {}, "f:a": {}}, "f:metadata": {"f:labels": {".": {}, "f:x": {}}}}}]


def test_creates_of_one_spec_share_work_but_not_trees() -> None:
    fm = manager("io.k8s.api.apps.v1.Deployment", "apps/v1")
    first = created(make_deploy([{"name": "a", "image": "x", "ports": [{"containerPort": 80}]}]), fm=fm)
    tree = first["metadata"]["managedFields"][0]["fieldsV1"]
    assert tree["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"a"}']["f:ports"] == {
        ".": {}, 'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}
    tree["f:spec"]["f:replicas"]["mutated"] = {}  # a caller owning its copy must not change the next create
    second = created(make_deploy([{"name": "a", "image": "x", "ports": [{"containerPort": 80}]}]), fm=fm)
    again = second["metadata"]["managedFields"][0]["fieldsV1"]
    assert "mutated" not in again["f:spec"]["f:replicas"]
    other = created(make_deploy([{"name": "b", "image": "x"}], replicas=2), fm=fm)
    assert list(other["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]) \
        == ['.', 'k:{"name":"b"}']


def test_create_of_a_kind_with_status_does_not_own_status() -> None:
    fm = manager(DEPLOY, "apps/v1", ignored=(("f:status",),))
    obj = make_deploy([{"name": "c", "image": "i"}])
    obj["status"] = {"replicas": 0}
    fields = mf.fields_from_v1(fm.update(None, obj, "kubectl-create", "T")[0]["fieldsV1"])
    assert not any(p[0] == "f:status" for p in fields)
    assert ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"c"}', "f:image") in fields


def test_update_moves_changed_fields_to_the_writer() -> None:
    fm = manager()
    live = created(make_cm({"a": "1", "b": "2"}))
    new = copy.deepcopy(live)
    new["data"]["a"] = "9"
    new["metadata"]["labels"] = {"l": "v"}
    got = {e["manager"]: e for e in fm.update(live, new, "kubectl-edit", "T2")}
    assert got["kubectl-create"]["fieldsV1"] == {"f:data": {".": {}, "f:b": {}}}
    assert got["kubectl-create"]["time"] == "2024-01-01T00:00:00Z"
    assert got["kubectl-edit"]["fieldsV1"] == {"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {".": {}, "f:l": {}}}}
    assert got["kubectl-edit"]["time"] == "T2"


def test_update_that_removes_a_field_takes_it_from_every_owner() -> None:
    fm = manager()
    live = created(make_cm({"a": "1", "b": "2"}))
    new = copy.deepcopy(live)
    del new["data"]["b"]
    got = fm.update(live, new, "kubectl-edit", "T2")
    assert [e["manager"] for e in got] == ["kubectl-create"]
    assert got[0]["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}} and got[0]["time"] == "2024-01-01T00:00:00Z"


def test_noop_update_returns_the_entries_untouched() -> None:
    fm = manager()
    live = created(make_cm({"a": "1"}))
    new = copy.deepcopy(live)
    new["metadata"]["resourceVersion"] = "5"  # system fields are nobody's
    assert fm.update(live, new, "someone", "T9") is new["metadata"]["managedFields"]


def test_same_manager_accumulates_and_is_restamped() -> None:
    fm = manager()
    live = created(make_cm({"a": "1"}))
    new = copy.deepcopy(live)
    new["data"]["b"] = "2"
    got = fm.update(live, new, "kubectl-create", "T2")
    assert got[0]["fieldsV1"] == {"f:data": {".": {}, "f:a": {}, "f:b": {}}} and got[0]["time"] == "T2"


def test_untracked_objects_stay_untracked_on_update() -> None:
    live = make_cm({"a": "1"})
    new = make_cm({"a": "2"})
    assert manager().update(live, new, "x", "T") is None


def test_single_empty_entry_resets_managed_fields() -> None:
    live = created(make_cm({"a": "1"}))
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = [{}]
    assert manager().update(live, new, "x", "T") == []


def test_status_subresource_entry() -> None:
    fm = manager(DEPLOY, "apps/v1", subresource="status")
    live = make_deploy([{"name": "c", "image": "i"}])
    live["metadata"]["managedFields"] = manager(DEPLOY, "apps/v1", ignored=(("f:status",),)).update(
        None, live, "kubectl-create", "T1")
    new = copy.deepcopy(live)
    new["status"] = {"replicas": 1}
    got = {(e["manager"], e.get("subresource", "")): e for e in fm.update(live, new, "kube-controller-manager", "T2")}
    assert got[("kube-controller-manager", "status")]["fieldsV1"] == {"f:status": {".": {}, "f:replicas": {}}}


def test_update_managers_are_capped() -> None:
    fm = manager()
    live = created(make_cm({"k0": "v"}), by="m0")
    for i in range(1, 13):
        new = copy.deepcopy(live)
        new["data"][f"k{i}"] = "v"
        new["metadata"]["managedFields"] = fm.update(live, new, f"m{i}", f"T{i:02d}")
        live = new
    names = [e["manager"] for e in live["metadata"]["managedFields"]]
    assert len(names) == mf.MAX_UPDATE_MANAGERS and "ancient-changes" in names


# ------------------------------------------------------------------ Apply


def test_apply_creates() -> None:
    out = manager().apply(None, make_cm({"a": "1"}), "kubectl", force=False, now="T1")
    assert out["data"] == {"a": "1"}
    assert entries(out) == {("kubectl", "Apply"): {
        "manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "time": "T1",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}}}


def test_apply_removes_fields_it_no_longer_applies() -> None:
    fm = manager()
    live = fm.apply(None, make_cm({"a": "1", "b": "2"}, {"x": "1"}), "kubectl", force=False, now="T1")
    out = fm.apply(live, make_cm({"a": "1"}), "kubectl", force=False, now="T2")
    assert out["data"] == {"a": "1"} and "labels" not in out["metadata"]
    assert entries(out)[("kubectl", "Apply")]["fieldsV1"] == {"f:data": {"f:a": {}}}


def test_apply_keeps_fields_another_manager_owns() -> None:
    fm = manager()
    live = fm.apply(None, make_cm({"a": "1", "b": "2"}), "kubectl", force=False, now="T1")
    live = fm.apply(live, make_cm({"b": "2"}), "other", force=False, now="T2")  # co-owns b, no conflict
    out = fm.apply(live, make_cm({"a": "1"}), "kubectl", force=False, now="T3")
    assert out["data"] == {"a": "1", "b": "2"}
    # an Update owner protects a field too
    live = created(make_cm({"x": "1"}))
    live = fm.apply(live, make_cm({"x": "1", "y": "2"}), "kubectl", force=False, now="T4")
    out = fm.apply(live, make_cm({"y": "2"}), "kubectl", force=False, now="T5")
    assert out["data"] == {"x": "1", "y": "2"}


def test_apply_never_removes_fields_it_did_not_apply() -> None:
    fm = manager()
    live = created(make_cm({"mine": "1", "theirs": "2"}), by="other")
    live = fm.apply(live, make_cm({"mine": "1"}), "kubectl", force=False, now="T1")
    # someone else's write moves "mine" away; kubectl stops applying it: it stays, owned by the writer
    changed = copy.deepcopy(live)
    changed["data"]["mine"] = "edited"
    changed["metadata"]["managedFields"] = fm.update(live, changed, "kubectl-edit", "T2")
    out = fm.apply(changed, make_cm({}), "kubectl", force=False, now="T3")
    assert out["data"] == {"mine": "edited", "theirs": "2"}


def test_apply_conflict() -> None:
    fm = manager()
    live = fm.apply(None, make_cm({"a": "1", "b": "1"}), "kubectl", force=False, now="T1")
    with pytest.raises(errors.StatusError) as exc:
        fm.apply(live, make_cm({"a": "2"}), "other", force=False, now="T2")
    status = exc.value.to_status()
    assert status["code"] == 409 and status["reason"] == "Conflict"
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "kubectl": .data.a'
    assert status["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "kubectl"', "field": ".data.a"}]


def test_apply_conflicts_with_several_managers() -> None:
    fm = manager()
    live = created(make_cm({"a": "1"}))
    live = fm.apply(live, make_cm({"b": "1"}), "tool", force=False, now="T1")
    with pytest.raises(errors.StatusError) as exc:
        fm.apply(live, make_cm({"a": "2", "b": "2"}), "other", force=False, now="T2")
    assert exc.value.message == ('Apply failed with 2 conflicts: conflicts with "kubectl-create" using v1:\n'
                                 "- .data.a\nconflicts with \"tool\":\n- .data.b")
    assert [c.field for c in exc.value.causes] == [".data.a", ".data.b"]


def test_apply_same_value_shares_ownership_without_conflict() -> None:
    fm = manager()
    live = fm.apply(None, make_cm({"a": "1"}), "kubectl", force=False, now="T1")
    out = fm.apply(live, make_cm({"a": "1"}), "other", force=False, now="T2")
    owners = entries(out)
    assert owners[("kubectl", "Apply")]["fieldsV1"] == owners[("other", "Apply")]["fieldsV1"] == {"f:data": {"f:a": {}}}
    # nothing changed: the new applier is recorded, no object change, no time
    assert "time" not in owners[("other", "Apply")]


def test_force_takes_ownership() -> None:
    fm = manager()
    live = fm.apply(None, make_cm({"a": "1", "b": "1"}), "kubectl", force=False, now="T1")
    out = fm.apply(live, make_cm({"a": "2"}), "other", force=True, now="T2")
    assert out["data"] == {"a": "2", "b": "1"}
    owners = entries(out)
    assert owners[("kubectl", "Apply")]["fieldsV1"] == {"f:data": {"f:b": {}}}
    assert owners[("other", "Apply")]["fieldsV1"] == {"f:data": {"f:a": {}}}


def test_reapply_is_a_noop() -> None:
    fm = manager()
    live = fm.apply(None, make_cm({"a": "1"}), "kubectl", force=False, now="T1")
    assert fm.apply(live, make_cm({"a": "1"}), "kubectl", force=False, now="T2") == live


def test_apply_refuses_managed_fields_in_the_body() -> None:
    with pytest.raises(errors.StatusError) as exc:
        manager().apply(None, make_cm({"a": "1"}, managed=[]), "kubectl", force=False, now="T")
    assert exc.value.code == 400 and exc.value.message == "metadata.managedFields must be nil"


def test_first_apply_to_an_untracked_object_conflicts_with_before_first_apply() -> None:
    fm = manager()
    with pytest.raises(errors.StatusError) as exc:
        fm.apply(make_cm({"a": "1"}), make_cm({"a": "2"}), "other", force=False, now="T")
    assert exc.value.causes[0].message == 'conflict with "before-first-apply" using v1'


def test_list_map_items_merge_by_key_and_drop_when_unapplied() -> None:
    fm = manager(DEPLOY, "apps/v1", ignored=(("f:status",),))
    live = fm.apply(None, make_deploy([{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]),
                    "kubectl", force=False, now="T1")
    # the server defaults a field inside container a: nobody owns it
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Always"
    # another manager adds a container c in the middle
    live = fm.apply(live, make_deploy([{"name": "c", "image": "x"}]), "sidecar", force=False, now="T2")
    out = fm.apply(live, make_deploy([{"name": "a", "image": "2"}]), "kubectl", force=False, now="T3")
    cs = out["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in cs] == ["a", "c"]
    assert cs[0] == {"name": "a", "image": "2", "imagePullPolicy": "Always"}


def test_ports_keyed_by_container_port_and_protocol() -> None:
    fm = manager(POD)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "i",
                                    "ports": [{"containerPort": 53, "protocol": "UDP"}, {"containerPort": 53}]}]}}
    live = fm.apply(None, pod, "kubectl", force=False, now="T1")
    live["spec"]["containers"][0]["ports"][1]["protocol"] = "TCP"  # defaulted by the server
    cfg = copy.deepcopy(pod)
    cfg["spec"]["containers"][0]["ports"] = [{"containerPort": 53}]
    out = fm.apply(live, cfg, "kubectl", force=False, now="T2")
    assert out["spec"]["containers"][0]["ports"] == [{"containerPort": 53, "protocol": "TCP"}]


def test_list_map_order_keeps_live_only_items_in_place() -> None:
    fm = manager(POD)
    live = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": n, "image": "i"} for n in ("a", "x", "b")]}}
    cfg = {"spec": {"containers": [{"name": "b", "image": "j"}, {"name": "a", "image": "j"}, {"name": "n", "image": "j"}]}}
    merged = fm.walker.merge(live, cfg)
    assert [c["name"] for c in merged["spec"]["containers"]] == ["b", "a", "x", "n"]


def test_kubectl_takes_over_client_side_applied_values() -> None:
    """Manager "kubectl" may change what client-side apply set while the annotation still matches."""
    fm = manager()
    cfg = make_cm({"a": "1"})
    live = make_cm({"a": "1"})
    live["metadata"]["annotations"] = {mf.LAST_APPLIED: mf.last_applied_json(cfg)}
    live = created(live, by="kubectl-client-side-apply")
    out = fm.apply(live, make_cm({"a": "2"}), "kubectl", force=False, now="T2")
    assert out["data"] == {"a": "2"}
    # the server keeps the annotation in step with what kubectl applied
    assert out["metadata"]["annotations"][mf.LAST_APPLIED] == mf.last_applied_json(make_cm({"a": "2"}))
    with pytest.raises(errors.StatusError):
        fm.apply(live, make_cm({"a": "2"}), "someone-else", force=False, now="T2")


def test_last_applied_json_matches_go() -> None:
    assert mf.last_applied_json({"b": "<x>", "a": 1}) == '{"a":1,"b":"\\u003cx\\u003e"}\n'


CREATE_CORPUS = [
    ("io.k8s.api.core.v1.Pod", {"apiVersion": "v1", "kind": "Pod",
                                "metadata": {"name": "p", "labels": {"a": "b"}, "annotations": {}, "finalizers": ["x"]},
                                "spec": {"containers": [{"name": "c", "image": "i", "ports": [
                                    {"containerPort": 80, "protocol": "TCP"}, {"containerPort": 53, "protocol": "UDP"}],
                                    "resources": {"requests": {"cpu": "1"}}, "env": [{"name": "A", "value": None}]}],
                                    "securityContext": {}, "nodeSelector": None, "tolerations": [
                                        {"key": "k", "operator": "Exists"}]},
                                "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]}}),
    ("io.k8s.api.core.v1.Pod", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {},
                                "status": {}}),
    ("io.k8s.api.core.v1.Pod", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": "oops"}),
    ("io.k8s.api.core.v1.Service", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                                    "spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8}],
                                             "selector": {"app": "x"}, "ipFamilies": ["IPv4"]}}),
    ("io.k8s.api.apps.v1.Deployment", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                                       "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}},
                                                "template": {"metadata": {"labels": {"a": "b"}},
                                                             "spec": {"containers": [{"name": "c", "image": "i"}]}}},
                                       "unknownTopLevel": {"x": 1}}),
    (CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "managedFields": []},
          "data": {"a": "1", "b": None}, "binaryData": {}}),
    ("io.k8s.api.core.v1.Event", {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
                                  "involvedObject": {"kind": "Pod", "name": "p"}, "count": 1, "eventTime": None}),
]


@pytest.mark.parametrize("definition,obj", CREATE_CORPUS, ids=[f"{i}" for i in range(len(CREATE_CORPUS))])
@pytest.mark.parametrize("ignored", [(), (("f:status",),)], ids=["all", "no-status"])
def test_create_walk_matches_the_comparison_with_the_zero_object(definition, obj, ignored) -> None:
    fm = manager(definition, ignored=ignored)
    cmp = fm.walker.compare(fm._zero(), mf._without_managed_fields(obj)).without(ignored)
    assert fm._owned(fm._created(obj)) == fm._owned(cmp.added | cmp.modified)
    assert fm._created(obj)  # every object here sets something


@pytest.mark.parametrize("definition,obj", CREATE_CORPUS + [
    ("io.k8s.api.core.v1.Pod", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "i"}, {"name": "c", "image": "j", "args": ["x"]}]}})],
    ids=[f"{i}" for i in range(len(CREATE_CORPUS) + 1)])
@pytest.mark.parametrize("ignored", [(), (("f:status",),), (("f:spec", "f:replicas"),)],
                         ids=["all", "no-status", "deep-ignore"])
def test_create_fieldsv1_built_directly_matches_the_path_sets(definition, obj, ignored) -> None:
    fm = manager(definition, ignored=ignored)
    owned = fm._owned(fm._created(obj))
    direct = fm._created_v1(obj)
    if direct is not None:
        assert direct == (mf.fields_to_v1(owned) if owned else {})
        assert list(direct) == list(mf.fields_to_v1(owned))  # the same order, as it is served
    else:
        names = [c["name"] for c in (obj.get("spec") or {}).get("containers", [])] if isinstance(obj.get("spec"), dict) \
            else []
        # Only what the direct builder leaves to the path sets: deep ignores, a spec that is not an
        # object, two list items with one key.
        assert ignored == (("f:spec", "f:replicas"),) or obj.get("spec") == "oops" or len(names) != len(set(names))


def test_created_fields_are_remembered_by_shape_not_by_values() -> None:
    fm = manager("io.k8s.api.core.v1.Event")

    def event(name: str, message: str, labels: dict | None = None) -> dict:
        meta: dict = {"name": name, "namespace": "ns"}
        if labels is not None:
            meta["labels"] = labels
        return {"apiVersion": "v1", "kind": "Event", "metadata": meta,
                "involvedObject": {"kind": "Pod", "name": name.split(".")[0], "uid": name},
                "reason": "Started", "message": message, "source": {"component": "kubelet", "host": "n1"},
                "count": 1, "eventTime": None}

    first = fm._created_v1(event("a.1", "Started container a"))
    again = fm._created_v1(event("b.2", "Started container b"))
    assert first == again == fm._created_v1_walk(event("b.2", "Started container b"))
    again["f:source"]["f:extra"] = {}  # a caller's change to its copy reaches no later create
    assert fm._created_v1(event("c.3", "x")) == first
    labelled = fm._created_v1(event("d.4", "x", labels={"app": "web"}))
    assert labelled["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    assert fm._created_v1(event("e.5", "x", labels={"tier": "db"}))["f:metadata"] == {
        "f:labels": {".": {}, "f:tier": {}}}

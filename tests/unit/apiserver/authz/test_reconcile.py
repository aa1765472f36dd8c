from types import SimpleNamespace

import orjson

from navarch.apiserver.authz import bootstrappolicy as policy
from navarch.apiserver.authz.reconcile import (
    default_objects,
    ensure_default_policy,
    reconciled,
)
from navarch.storage.memory import MemoryStore


def _by_name(plural: str) -> dict:
    return {o["metadata"]["name"]: o for p, o in default_objects() if p == plural}


def test_every_default_is_labelled_and_auto_updated():
    for _, obj in default_objects():
        assert obj["metadata"]["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"
        assert obj["metadata"]["annotations"][policy.AUTOUPDATE] == "true"


def test_aggregated_roles_are_filled_and_nest():
    roles = _by_name("clusterroles")
    view, edit, admin = (roles[n]["rules"] for n in ("view", "edit", "admin"))
    assert all(set(r["verbs"]) <= {"get", "list", "watch"} for r in view)
    assert all(r in edit for r in view) and all(r in admin for r in edit)
    assert not any("secrets" in r.get("resources", ()) for r in view)
    assert roles["edit"]["metadata"]["labels"][policy.AGGREGATE_TO + "admin"] == "true"
    assert roles["view"]["aggregationRule"] == {
        "clusterRoleSelectors": [{"matchLabels": {policy.AGGREGATE_TO + "view": "true"}}]}


def test_bindings_for_components_and_joining():
    b = _by_name("clusterrolebindings")
    assert b["cluster-admin"]["subjects"][0]["name"] == "system:masters"
    assert b["system:kube-scheduler"]["subjects"][0]["name"] == "system:kube-scheduler"
    assert b["system:node-bootstrapper"]["subjects"][0]["name"] == "system:bootstrappers"
    assert {s["name"] for s in b["system:public-info-viewer"]["subjects"]} == {
        "system:authenticated", "system:unauthenticated"}


def test_reconcile_adds_what_is_missing_and_respects_opt_out():
    wanted = _by_name("clusterroles")["system:basic-user"]
    edited = {"metadata": {"name": "system:basic-user", "labels": {"mine": "1"}}, "rules": wanted["rules"][:1]}
    out = reconciled("clusterroles", edited, wanted)
    assert out is not None and out["rules"] == wanted["rules"] and out["metadata"]["labels"]["mine"] == "1"
    assert reconciled("clusterroles", out, wanted) is None
    opted = {"metadata": {"name": "x", "annotations": {policy.AUTOUPDATE: "false"}}, "rules": []}
    assert reconciled("clusterroles", opted, wanted) is None
    binding = _by_name("clusterrolebindings")["system:discovery"]
    out = reconciled("clusterrolebindings", {"metadata": {"name": "system:discovery"}, "subjects": [
        {"kind": "User", "name": "extra"}]}, binding)
    assert out is not None and out["subjects"][0]["name"] == "extra" and len(out["subjects"]) == 2


async def test_ensure_default_policy_creates_then_repairs():
    store = MemoryStore()
    await store.start()

    async def fresh() -> bool:
        return True

    api = SimpleNamespace(store=store, cache=SimpleNamespace(wait_fresh=fresh))
    await ensure_default_policy(api)  # type: ignore[arg-type]
    key = "/registry/rbac.authorization.k8s.io/clusterroles/system:discovery"
    kv = await store.get(key)
    assert kv is not None and orjson.loads(kv.value)["metadata"]["uid"]
    obj = orjson.loads(kv.value)
    obj["rules"] = []
    await store.update(key, orjson.dumps(obj), kv.mod_revision)
    await ensure_default_policy(api)  # type: ignore[arg-type]
    assert orjson.loads((await store.get(key)).value)["rules"] == _by_name("clusterroles")["system:discovery"]["rules"]
    await store.close()

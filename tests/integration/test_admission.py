"""Admission plugins against a real ``navarch server`` (with its controllers), driven by kubectl 1.33:
ResourceQuota, LimitRanger, PodSecurity, Priority, DefaultStorageClass and NamespaceLifecycle."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.clients import kubectl_path
from tests.navarch_process import Kubectl, NavarchServer, running_server


@pytest.fixture(scope="module")
def server() -> Iterator[NavarchServer]:
    # The controllers are needed: the resourcequota controller gives quota back.
    with running_server("admission", api_only=False) as srv:
        yield srv


@pytest.fixture(scope="module")
def kubectl(server: NavarchServer) -> Kubectl:
    if kubectl_path("1.33") is None:
        pytest.skip("kubectl 1.33 is not installed")
    return Kubectl("1.33", server.kubeconfig)


def new_namespace(kubectl: Kubectl, name: str) -> str:
    kubectl("create", "namespace", name)
    # Pods need the namespace's default service account, which a controller creates.
    eventually(lambda: kubectl("get", "serviceaccount", "default", "-n", name))
    return name


@pytest.fixture
def ns(kubectl: Kubectl) -> str:
    return new_namespace(kubectl, f"adm-{uuid.uuid4().hex[:6]}")


def eventually(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:  # also kubectl failing
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_quota_refuses_third_pod_and_gives_back_on_delete(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "quota", "pods", "--hard=pods=2,configmaps=10", "-n", ns)
    kubectl("run", "a", "--image=nginx", "-n", ns)
    kubectl("run", "b", "--image=nginx", "-n", ns)
    res = kubectl.run("run", "c", "--image=nginx", "-n", ns, check=False)
    assert res.returncode != 0
    assert ('Error from server (Forbidden): pods "c" is forbidden: exceeded quota: pods, requested: pods=1, '
            "used: pods=2, limited: pods=2") in res.stderr

    def used(n: str) -> None:
        out = kubectl("describe", "quota", "pods", "-n", ns)
        assert re.search(rf"^pods\s+{n}\s+2\s*$", out, re.MULTILINE), out

    used("2")
    kubectl("delete", "pod", "a", "-n", ns, "--grace-period=0", "--force")
    eventually(lambda: used("1"))
    kubectl("run", "c", "--image=nginx", "-n", ns)


def test_quota_is_not_charged_for_an_invalid_object(kubectl: Kubectl, ns: str) -> None:
    # Upstream validates the object before the validating admission plugins run, so a create
    # refused as invalid (422) never reaches ResourceQuota.
    kubectl("create", "quota", "secrets", "--hard=secrets=5", "-n", ns)
    eventually(lambda: assert_used(kubectl, ns, "secrets", "secrets", "0"))
    bad = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bad", "namespace": ns},
           "data": {"not a key!": "eA=="}}
    res = kubectl.run("create", "-f", "-", input=json.dumps(bad), check=False)
    assert res.returncode != 0 and "is invalid" in res.stderr, res.stderr
    assert_used(kubectl, ns, "secrets", "secrets", "0")
    kubectl("create", "secret", "generic", "good", "--from-literal=k=v", "-n", ns)
    assert_used(kubectl, ns, "secrets", "secrets", "1")


def assert_used(kubectl: Kubectl, ns: str, quota: str, resource: str, want: str) -> None:
    used = json.loads(kubectl("get", "quota", quota, "-n", ns, "-o", "json")).get("status", {}).get("used", {})
    assert used.get(resource) == want, used


def test_limit_range_defaults_are_visible_on_the_pod(kubectl: Kubectl, ns: str) -> None:
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults"},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"},
                             "defaultRequest": {"cpu": "100m", "memory": "128Mi"}, "max": {"cpu": "1"}}]}}))
    kubectl("run", "web", "--image=nginx", "-n", ns)
    pod = json.loads(kubectl("get", "pod", "web", "-n", ns, "-o", "json"))
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}}
    assert pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container web; cpu, memory limit for container web")
    res = kubectl.run("run", "big", "--image=nginx", "-n", ns, "--overrides",
                      json.dumps({"spec": {"containers": [{"name": "big", "image": "nginx",
                                                           "resources": {"limits": {"cpu": "2"}}}]}}), check=False)
    assert 'pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2' in res.stderr


PRIVILEGED = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root"},
              "spec": {"containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": True}}]}}


def test_pod_security_enforce_refuses_and_warn_warns(kubectl: Kubectl, ns: str) -> None:
    kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
    res = kubectl.run("apply", "-n", ns, "-f", "-", input=json.dumps(PRIVILEGED), check=False)
    assert res.returncode != 0
    assert ('pods "root" is forbidden: violates PodSecurity "restricted:latest": privileged (container "c" must '
            'not set securityContext.privileged=true), allowPrivilegeEscalation != false (container "c" must set '
            "securityContext.allowPrivilegeEscalation=false)") in res.stderr

    warned = new_namespace(kubectl, f"{ns}-w")
    kubectl("label", "namespace", warned, "pod-security.kubernetes.io/warn=baseline")
    res = kubectl.run("apply", "-n", warned, "-f", "-", input=json.dumps(PRIVILEGED))
    assert ('Warning: would violate PodSecurity "baseline:latest": privileged (container "c" must not set '
            "securityContext.privileged=true)") in res.stderr
    kubectl("get", "pod", "root", "-n", warned)


def test_priority_comes_from_the_class(kubectl: Kubectl, ns: str) -> None:
    name = f"{ns}-high"
    kubectl("create", "priorityclass", name, "--value=1000", "--preemption-policy=Never")
    kubectl("run", "p", "--image=nginx", "-n", ns, "--overrides", json.dumps({"spec": {"priorityClassName": name}}))
    spec = json.loads(kubectl("get", "pod", "p", "-n", ns, "-o", "json"))["spec"]
    assert (spec["priority"], spec["preemptionPolicy"]) == (1000, "Never")
    res = kubectl.run("run", "q", "--image=nginx", "-n", ns, "--overrides",
                      json.dumps({"spec": {"priorityClassName": "missing"}}), check=False)
    assert 'pods "q" is forbidden: no PriorityClass with name missing was found' in res.stderr


def test_default_storage_class_is_set_on_claims(kubectl: Kubectl, ns: str) -> None:
    kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": f"{ns}-std", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "example.com/none"}))
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}))
    assert kubectl("get", "pvc", "data", "-n", ns, "-o", "jsonpath={.spec.storageClassName}") == f"{ns}-std"
    kubectl("delete", "storageclass", f"{ns}-std")


def test_terminating_namespace_refuses_new_content(kubectl: Kubectl, ns: str) -> None:
    # A finalizer nobody removes keeps the namespace terminating.
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "finalizers": ["example.com/hold"]}}))
    kubectl("delete", "namespace", ns, "--wait=false")
    res = kubectl.run("run", "new", "--image=nginx", "-n", ns, check=False)
    assert ('Error from server (Forbidden): pods "new" is forbidden: unable to create new content in '
            f"namespace {ns} because it is being terminated") in res.stderr
    kubectl("patch", "configmap", "held", "-n", ns, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')

"""The official ``kubernetes`` Python client against a real navarch server.

Every expectation here is upstream kube-apiserver behaviour (shapes, defaults, status codes,
messages): these tests are acceptance criteria, not a description of what navarch does today.

CRUD goes through ``kubernetes.dynamic.DynamicClient`` with resources described from the table below
instead of from discovery, so a discovery regression fails one test (``test_discovery_...``) and not
every CRUD case; the remaining tests use the typed APIs, as most Python programs do.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

pytest.importorskip("kubernetes")

from kubernetes import client, dynamic, watch  # noqa: E402
from kubernetes.client.exceptions import ApiException  # noqa: E402
from kubernetes.dynamic.resource import Resource  # noqa: E402

from tests.navarch_process import NavarchServer, free_port  # noqa: E402

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
Body = dict[str, Any]


# --------------------------------------------------------------------------- helpers
def _uid() -> str:
    return uuid.uuid4().hex[:6]


def _status_of(exc: ApiException) -> Body:
    """The decoded ``Status`` body of a failed call (every API error must carry one)."""
    import json

    body = exc.body.decode() if isinstance(exc.body, bytes) else exc.body
    assert body, f"HTTP {exc.status} without a body"
    status = json.loads(body)
    assert status.get("kind") == "Status" and status.get("apiVersion") == "v1", status
    assert status.get("status") == "Failure" and status.get("code") == exc.status, status
    return status


def expect_error(code: int, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Body:
    """Call ``fn`` expecting an API error with HTTP ``code``; returns the Status body."""
    try:
        result = fn(*args, **kwargs)
    except ApiException as e:
        assert e.status == code, f"expected HTTP {code}, got {e.status}: {e.body!r}"
        return _status_of(e)
    raise AssertionError(f"expected HTTP {code}, the call succeeded: {result}")


def container(name: str = "c", image: str = "registry.k8s.io/pause:3.9") -> Body:
    return {"name": name, "image": image}


def pod_template(labels: dict[str, str], restart: str | None = None) -> Body:
    spec: Body = {"containers": [container()]}
    if restart:
        spec["restartPolicy"] = restart
    return {"metadata": {"labels": dict(labels)}, "spec": spec}


def csr_request() -> str:
    """A PEM certificate request, base64-encoded as ``spec.request`` wants it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    req = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "navarch-test")]))
           .sign(key, hashes.SHA256()))
    return base64.b64encode(req.public_bytes(serialization.Encoding.PEM)).decode()


# --------------------------------------------------------------------------- the resource table
@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool
    # name, namespace -> the body without metadata (spec, data, ...): a minimal valid object.
    content: Callable[[str, str], Body]
    # Checks upstream's defaulting on the created object.
    defaults: Callable[[Body], None] | None = None

    @property
    def group(self) -> str:
        return self.api_version.split("/")[0] if "/" in self.api_version else ""

    @property
    def version(self) -> str:
        return self.api_version.split("/")[-1]

    @property
    def id(self) -> str:
        return f"{self.api_version}/{self.kind}"


def _pod_defaults(o: Body) -> None:
    spec = o["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["enableServiceLinks"] is True
    c = spec["containers"][0]
    assert c["imagePullPolicy"] == "IfNotPresent"  # a tagged image that is not :latest
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"
    assert o["status"]["phase"] == "Pending"


def _deployment_defaults(o: Body) -> None:
    spec = o["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    assert o["metadata"]["generation"] == 1


def _service_defaults(o: Body) -> None:
    spec = o["spec"]
    assert spec["type"] == "ClusterIP"
    assert ipaddress.ip_address(spec["clusterIP"]) in SERVICE_CIDR, spec["clusterIP"]
    assert spec["clusterIPs"] == [spec["clusterIP"]]
    assert spec["sessionAffinity"] == "None"
    assert spec["ipFamilies"] == ["IPv4"]
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert spec["ports"][0]["protocol"] == "TCP"
    assert spec["ports"][0]["targetPort"] == 80


def _secret_defaults(o: Body) -> None:
    assert o["type"] == "Opaque"
    assert o["data"] == {"a": base64.b64encode(b"1").decode()}  # stringData folded into data
    assert "stringData" not in o


def _namespace_defaults(o: Body) -> None:
    assert o["status"]["phase"] == "Active"
    assert o["spec"]["finalizers"] == ["kubernetes"]
    assert o["metadata"]["labels"]["kubernetes.io/metadata.name"] == o["metadata"]["name"]


def _statefulset_defaults(o: Body) -> None:
    spec = o["spec"]
    assert spec["replicas"] == 1
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["revisionHistoryLimit"] == 10


def _daemonset_defaults(o: Body) -> None:
    spec = o["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate",
                                      "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert spec["revisionHistoryLimit"] == 10


def _job_defaults(o: Body) -> None:
    spec = o["spec"]
    assert spec["completions"] == 1 and spec["parallelism"] == 1
    assert spec["backoffLimit"] == 6
    assert spec["completionMode"] == "NonIndexed"
    assert spec["suspend"] is False
    uid = o["metadata"]["uid"]
    assert spec["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"] == uid
    assert spec["template"]["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] == uid


def _cronjob_defaults(o: Body) -> None:
    spec = o["spec"]
    assert spec["concurrencyPolicy"] == "Allow"
    assert spec["suspend"] is False
    assert spec["successfulJobsHistoryLimit"] == 3
    assert spec["failedJobsHistoryLimit"] == 1


def _pv_defaults(o: Body) -> None:
    assert o["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert o["spec"]["volumeMode"] == "Filesystem"
    assert o["status"]["phase"] == "Pending"


def _pvc_defaults(o: Body) -> None:
    assert o["spec"]["volumeMode"] == "Filesystem"
    assert o["status"]["phase"] == "Pending"


def _hpa_defaults(o: Body) -> None:
    assert o["spec"]["minReplicas"] == 1
    assert o["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]


def _csr_defaults(o: Body) -> None:
    assert o["spec"]["username"], "the requesting user is recorded in spec.username"


def _rc_spec(name: str, ns: str) -> Body:
    labels = {"app": name}
    return {"spec": {"replicas": 1, "selector": labels, "template": pod_template(labels)}}


def _workload(**extra: Any) -> Callable[[str, str], Body]:
    def build(name: str, ns: str) -> Body:
        labels = {"app": name}
        spec: Body = {"selector": {"matchLabels": labels}, "template": pod_template(labels)}
        spec.update(extra)
        return {"spec": spec}
    return build


def _job(name: str, ns: str) -> Body:
    return {"spec": {"template": {"spec": {"containers": [container()], "restartPolicy": "Never"}}}}


def _cronjob(name: str, ns: str) -> Body:
    return {"spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {
        "spec": {"containers": [container()], "restartPolicy": "OnFailure"}}}}}}


RBAC = "rbac.authorization.k8s.io"
_RULES = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
_SUBJECTS = [{"kind": "User", "name": "alice", "apiGroup": RBAC}]

KINDS: tuple[Kind, ...] = (
    Kind("v1", "Namespace", "namespaces", False, lambda n, ns: {}, _namespace_defaults),
    Kind("v1", "Pod", "pods", True, lambda n, ns: {"spec": {"containers": [container()]}}, _pod_defaults),
    Kind("v1", "Node", "nodes", False, lambda n, ns: {"spec": {"podCIDR": "10.42.200.0/24"}}),
    Kind("v1", "Service", "services", True,
         lambda n, ns: {"spec": {"selector": {"app": n}, "ports": [{"port": 80}]}}, _service_defaults),
    Kind("v1", "Endpoints", "endpoints", True, lambda n, ns: {"subsets": [
        {"addresses": [{"ip": "10.42.0.5"}], "ports": [{"port": 80, "protocol": "TCP"}]}]}),
    Kind("v1", "ConfigMap", "configmaps", True, lambda n, ns: {"data": {"a": "1"}}),
    Kind("v1", "Secret", "secrets", True, lambda n, ns: {"stringData": {"a": "1"}}, _secret_defaults),
    Kind("v1", "ServiceAccount", "serviceaccounts", True, lambda n, ns: {}),
    Kind("v1", "Event", "events", True, lambda n, ns: {
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": ns, "apiVersion": "v1"},
        "reason": "Testing", "message": "hello", "type": "Normal", "source": {"component": "test"}}),
    Kind("v1", "LimitRange", "limitranges", True, lambda n, ns: {"spec": {"limits": [
        {"type": "Container", "default": {"cpu": "100m"}, "defaultRequest": {"cpu": "50m"}}]}}),
    Kind("v1", "ResourceQuota", "resourcequotas", True, lambda n, ns: {"spec": {"hard": {"pods": "10"}}}),
    Kind("v1", "PersistentVolume", "persistentvolumes", False, lambda n, ns: {"spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
        "hostPath": {"path": f"/tmp/{n}"}}}, _pv_defaults),
    Kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, lambda n, ns: {"spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}, _pvc_defaults),
    Kind("v1", "ReplicationController", "replicationcontrollers", True, _rc_spec),
    Kind("v1", "PodTemplate", "podtemplates", True, lambda n, ns: {"template": pod_template({"app": n})}),
    Kind("apps/v1", "Deployment", "deployments", True, _workload(), _deployment_defaults),
    Kind("apps/v1", "ReplicaSet", "replicasets", True, _workload(),
         lambda o: _expect(o["spec"]["replicas"] == 1, o)),
    Kind("apps/v1", "StatefulSet", "statefulsets", True, _workload(serviceName="svc"), _statefulset_defaults),
    Kind("apps/v1", "DaemonSet", "daemonsets", True, _workload(), _daemonset_defaults),
    Kind("apps/v1", "ControllerRevision", "controllerrevisions", True,
         lambda n, ns: {"revision": 1, "data": {"spec": {"template": {"metadata": {}}}}}),
    Kind("batch/v1", "Job", "jobs", True, _job, _job_defaults),
    Kind("batch/v1", "CronJob", "cronjobs", True, _cronjob, _cronjob_defaults),
    Kind("coordination.k8s.io/v1", "Lease", "leases", True,
         lambda n, ns: {"spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}}),
    Kind("discovery.k8s.io/v1", "EndpointSlice", "endpointslices", True, lambda n, ns: {
        "addressType": "IPv4", "endpoints": [{"addresses": ["10.42.0.5"]}],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}),
    Kind("events.k8s.io/v1", "Event", "events", True, lambda n, ns: {
        "eventTime": "2024-01-01T00:00:00.000000Z", "reportingController": "example.com/test",
        "reportingInstance": "test-1", "action": "Testing", "reason": "Testing", "type": "Normal",
        "regarding": {"kind": "Pod", "name": "p", "namespace": ns, "apiVersion": "v1"}, "note": "hello"}),
    Kind("networking.k8s.io/v1", "Ingress", "ingresses", True, lambda n, ns: {"spec": {
        "defaultBackend": {"service": {"name": "svc", "port": {"number": 80}}}}}),
    Kind("networking.k8s.io/v1", "IngressClass", "ingressclasses", False,
         lambda n, ns: {"spec": {"controller": "example.com/ingress"}}),
    Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", True, lambda n, ns: {"spec": {"podSelector": {}}},
         lambda o: _expect(o["spec"]["policyTypes"] == ["Ingress"], o)),
    Kind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", True,
         lambda n, ns: {"spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": n}}}}),
    Kind(f"{RBAC}/v1", "Role", "roles", True, lambda n, ns: {"rules": _RULES}),
    Kind(f"{RBAC}/v1", "RoleBinding", "rolebindings", True, lambda n, ns: {
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "reader"}, "subjects": _SUBJECTS}),
    Kind(f"{RBAC}/v1", "ClusterRole", "clusterroles", False, lambda n, ns: {"rules": _RULES}),
    Kind(f"{RBAC}/v1", "ClusterRoleBinding", "clusterrolebindings", False, lambda n, ns: {
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "reader"}, "subjects": _SUBJECTS}),
    Kind("storage.k8s.io/v1", "StorageClass", "storageclasses", False,
         lambda n, ns: {"provisioner": "example.com/disk"},
         lambda o: _expect(o["reclaimPolicy"] == "Delete" and o["volumeBindingMode"] == "Immediate", o)),
    Kind("scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", False, lambda n, ns: {"value": 1000},
         lambda o: _expect(o["preemptionPolicy"] == "PreemptLowerPriority", o)),
    Kind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, lambda n, ns: {"spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": n}, "maxReplicas": 3}},
         _hpa_defaults),
    Kind("autoscaling/v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, lambda n, ns: {"spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": n}, "maxReplicas": 3,
        "targetCPUUtilizationPercentage": 50}},
         lambda o: _expect(o["spec"]["minReplicas"] == 1 and o["spec"]["targetCPUUtilizationPercentage"] == 50, o)),
    Kind("certificates.k8s.io/v1", "CertificateSigningRequest", "certificatesigningrequests", False,
         lambda n, ns: {"spec": {"request": csr_request(), "signerName": "example.com/signer",
                                 "usages": ["digital signature", "client auth"]}}, _csr_defaults),
)


def _expect(cond: bool, obj: Body) -> None:
    assert cond, obj


def _resource(dc: dynamic.DynamicClient, k: Kind) -> Resource:
    return Resource(prefix="apis" if k.group else "api", group=k.group, api_version=k.version, kind=k.kind,
                    namespaced=k.namespaced, name=k.plural, client=dc)


class _NoDiscovery:
    """A DynamicClient discoverer that never calls the server: resources come from ``KINDS``."""

    def __init__(self, client: Any, cache_file: str | None) -> None:
        self.client = client


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def dyn(api_client: client.ApiClient) -> dynamic.DynamicClient:
    return dynamic.DynamicClient(api_client, discoverer=_NoDiscovery)


@pytest.fixture
def ns(request: pytest.FixtureRequest, api_client: client.ApiClient) -> Iterator[str]:
    """A fresh namespace made with the Python client itself (no kubectl, no discovery needed)."""
    base = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    name = f"{base}-{_uid()}"
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    try:
        core.delete_namespace(name)
    except ApiException:
        pass


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


# --------------------------------------------------------------------------- the table covers the registry
def test_table_covers_every_served_resource() -> None:
    from navarch.api.resources import REGISTRY

    served = {(r.api_version, r.plural) for r in REGISTRY.resources if not r.virtual}
    tested = {(k.api_version, k.plural) for k in KINDS}
    assert served - tested == set(), "resources served but not covered by the CRUD table"
    assert tested - served == set(), "resources in the CRUD table that the registry does not serve"


def test_discovery_resolves_every_kind(api_client: client.ApiClient, tmp_path: Path) -> None:
    """The client's own discovery (what ``DynamicClient`` users rely on) finds every kind."""
    dc = dynamic.DynamicClient(api_client, cache_file=str(tmp_path / "discovery.json"))
    for k in KINDS:
        r = dc.resources.get(api_version=k.api_version, kind=k.kind)
        assert (r.name, r.namespaced) == (k.plural, k.namespaced), k.id
        assert {"create", "get", "list", "update", "patch", "delete", "watch"} <= set(r.verbs), (k.id, r.verbs)


# --------------------------------------------------------------------------- CRUD on every kind
def _check_meta(obj: Body, k: Kind, name: str, ns: str | None) -> None:
    assert obj["kind"] == k.kind and obj["apiVersion"] == k.api_version
    meta = obj["metadata"]
    assert meta["name"] == name
    assert meta.get("namespace") == ns
    uuid.UUID(meta["uid"])
    assert RFC3339.match(meta["creationTimestamp"]), meta["creationTimestamp"]
    assert isinstance(meta["resourceVersion"], str) and meta["resourceVersion"], meta


@pytest.mark.parametrize("k", KINDS, ids=lambda k: k.id)
def test_crud(k: Kind, dyn: dynamic.DynamicClient, ns: str) -> None:
    res = _resource(dyn, k)
    name = f"crud-{k.kind.lower()}-{_uid()}"
    obj_ns = ns if k.namespaced else None
    marker = {"navarch.test/run": name}
    body: Body = {"apiVersion": k.api_version, "kind": k.kind,
                  "metadata": {"name": name, "labels": dict(marker)}, **k.content(name, ns)}
    created = dyn.create(res, body=body, namespace=obj_ns).to_dict()
    try:
        _check_meta(created, k, name, obj_ns)

        got = dyn.get(res, name=name, namespace=obj_ns).to_dict()
        assert got["metadata"]["uid"] == created["metadata"]["uid"]
        assert got["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]

        listed = dyn.get(res, namespace=obj_ns, label_selector=f"navarch.test/run={name}").to_dict()
        assert listed["kind"] == k.kind + "List" and listed["apiVersion"] == k.api_version
        assert listed["metadata"]["resourceVersion"]
        assert [i["metadata"]["name"] for i in listed["items"]] == [name]
        none = dyn.get(res, namespace=obj_ns, label_selector=f"navarch.test/run={name}-other").to_dict()
        assert none["items"] == []

        got.setdefault("metadata", {}).setdefault("annotations", {})["navarch.test/replaced"] = "yes"
        replaced = dyn.replace(res, body=got, name=name, namespace=obj_ns).to_dict()
        assert replaced["metadata"]["annotations"]["navarch.test/replaced"] == "yes"
        assert replaced["metadata"]["uid"] == created["metadata"]["uid"]
        assert replaced["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]
        assert replaced["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]

        patched = dyn.patch(res, body={"metadata": {"labels": {"patched": "yes"}}}, name=name,
                            namespace=obj_ns, content_type="application/merge-patch+json").to_dict()
        assert patched["metadata"]["labels"].items() >= {**marker, "patched": "yes"}.items()
        assert patched["metadata"]["annotations"]["navarch.test/replaced"] == "yes"
        assert int(patched["metadata"]["resourceVersion"]) > int(replaced["metadata"]["resourceVersion"])
        # Last, so that a defaulting gap does not hide whether the verbs work.
        if k.defaults:
            k.defaults(created)
    finally:
        dyn.delete(res, name=name, namespace=obj_ns)
    if k.kind == "Namespace":
        # No namespace controller runs, so upstream keeps it Terminating behind spec.finalizers.
        try:
            gone = dyn.get(res, name=name).to_dict()
        except dynamic.exceptions.NotFoundError:
            return
        assert gone["status"]["phase"] == "Terminating" and gone["metadata"]["deletionTimestamp"]
        return
    with pytest.raises(dynamic.exceptions.NotFoundError) as info:
        dyn.get(res, name=name, namespace=obj_ns)
    status = _status_of(info.value)
    assert status["reason"] == "NotFound"
    qualified = f"{k.plural}.{k.group}" if k.group else k.plural
    assert status["message"] == f'{qualified} "{name}" not found'
    want = {"name": name, "kind": k.plural}
    if k.group:
        want["group"] = k.group
    assert status["details"] == want


# --------------------------------------------------------------------------- patch types
def test_patch_types_on_configmap(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "p"}, "data": {"a": "1", "b": "2"}})
    # The typed client picks the patch type from the body: a list is a JSON patch.
    out = core.patch_namespaced_config_map("p", ns, [{"op": "replace", "path": "/data/a", "value": "10"},
                                                     {"op": "remove", "path": "/data/b"}])
    assert out.data == {"a": "10"}
    out = core.patch_namespaced_config_map("p", ns, {"data": {"c": "3", "a": None}})
    assert out.data == {"c": "3"}
    expect_error(422, core.patch_namespaced_config_map, "p", ns,
                 [{"op": "test", "path": "/data/c", "value": "nope"}])


def test_strategic_merge_patch_merges_containers_by_name(apps: client.AppsV1Api, ns: str) -> None:
    labels = {"app": "web"}
    spec = {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
        "containers": [container("a"), container("b")]}}}
    apps.create_namespaced_deployment(ns, {"metadata": {"name": "web"}, "spec": spec})
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "nginx:1.27"}]}}}}
    out = apps.patch_namespaced_deployment("web", ns, patch)
    images = {c.name: c.image for c in out.spec.template.spec.containers}
    assert images == {"a": "registry.k8s.io/pause:3.9", "b": "nginx:1.27"}
    assert out.metadata.generation == 2


# --------------------------------------------------------------------------- status subresource, generation
def _deployment(name: str) -> Body:
    labels = {"app": name}
    return {"metadata": {"name": name}, "spec": {"selector": {"matchLabels": labels},
                                                 "template": pod_template(labels)}}


def test_status_subresource_and_generation(apps: client.AppsV1Api, ns: str) -> None:
    d = apps.create_namespaced_deployment(ns, _deployment("web"))
    assert d.metadata.generation == 1

    # A status write ignores spec and metadata.generation does not move.
    d.status = client.V1DeploymentStatus(replicas=3, ready_replicas=2, observed_generation=1)
    d.spec.replicas = 7
    after_status = apps.replace_namespaced_deployment_status("web", ns, d)
    assert after_status.status.replicas == 3 and after_status.status.ready_replicas == 2
    assert after_status.spec.replicas == 1
    assert after_status.metadata.generation == 1
    assert after_status.metadata.resource_version != d.metadata.resource_version

    # A spec write ignores status and bumps generation.
    after_status.spec.replicas = 2
    after_status.status.replicas = 99
    after_spec = apps.replace_namespaced_deployment("web", ns, after_status)
    assert after_spec.spec.replicas == 2
    assert after_spec.status.replicas == 3
    assert after_spec.metadata.generation == 2

    # A metadata-only write does not bump generation either.
    after_spec.metadata.labels = {"touched": "yes"}
    after_meta = apps.replace_namespaced_deployment("web", ns, after_spec)
    assert after_meta.metadata.generation == 2

    got = apps.read_namespaced_deployment_status("web", ns)
    assert got.status.replicas == 3 and got.spec.replicas == 2


def test_scale_subresource(apps: client.AppsV1Api, ns: str) -> None:
    apps.create_namespaced_deployment(ns, _deployment("web"))
    scale = apps.read_namespaced_deployment_scale("web", ns)
    assert scale.spec.replicas == 1 and scale.status.selector == "app=web"
    scale.spec.replicas = 4
    apps.replace_namespaced_deployment_scale("web", ns, scale)
    d = apps.read_namespaced_deployment("web", ns)
    assert d.spec.replicas == 4 and d.metadata.generation == 2


# --------------------------------------------------------------------------- watch
def test_watch_resumes_from_resource_version(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "before"}})
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, {"metadata": {"name": "x"}, "data": {"v": "1"}})
    core.patch_namespaced_config_map("x", ns, {"data": {"v": "2"}})
    core.delete_namespaced_config_map("x", ns)

    seen: list[tuple[str, str, str]] = []
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=5,
                       _request_timeout=15):
        obj = ev["object"]
        seen.append((ev["type"], obj.metadata.name, obj.metadata.resource_version))
        if len(seen) == 3:
            w.stop()
    assert [(t, n) for t, n, _ in seen] == [("ADDED", "x"), ("MODIFIED", "x"), ("DELETED", "x")]
    rvs = [int(r) for _, _, r in seen]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3 and rvs[0] > int(rv)


def test_watch_sees_live_events(core: client.CoreV1Api, ns: str) -> None:
    import threading

    rv = core.list_namespaced_config_map(ns).metadata.resource_version

    def write() -> None:
        time.sleep(0.3)
        core.create_namespaced_config_map(ns, {"metadata": {"name": "live", "labels": {"w": "1"}}})

    t = threading.Thread(target=write)
    t.start()
    w = watch.Watch()
    events = []
    for ev in w.stream(core.list_namespaced_config_map, ns, resource_version=rv, label_selector="w=1",
                       timeout_seconds=5, _request_timeout=15):
        events.append((ev["type"], ev["object"].metadata.name))
        w.stop()
    t.join()
    assert events == [("ADDED", "live")]


# --------------------------------------------------------------------------- errors through the client
def test_conflict_on_stale_update(core: client.CoreV1Api, ns: str) -> None:
    stale = core.create_namespaced_config_map(ns, {"metadata": {"name": "x"}, "data": {"v": "1"}})
    fresh = core.read_namespaced_config_map("x", ns)
    fresh.data = {"v": "2"}
    core.replace_namespaced_config_map("x", ns, fresh)
    stale.data = {"v": "3"}
    status = expect_error(409, core.replace_namespaced_config_map, "x", ns, stale)
    assert status["reason"] == "Conflict"
    assert status["message"] == ('Operation cannot be fulfilled on configmaps "x": the object has been modified; '
                                 "please apply your changes to the latest version and try again")
    assert status["details"] == {"name": "x", "kind": "configmaps"}
    assert core.read_namespaced_config_map("x", ns).data == {"v": "2"}


def test_invalid_has_field_causes(apps: client.AppsV1Api, ns: str) -> None:
    body = _deployment("bad")
    body["spec"]["replicas"] = -1
    del body["spec"]["template"]["spec"]["containers"][0]["image"]
    status = expect_error(422, apps.create_namespaced_deployment, ns, body)
    assert status["reason"] == "Invalid"
    assert status["details"]["kind"] == "Deployment" and status["details"]["group"] == "apps"
    assert status["details"]["name"] == "bad"
    causes = {c["field"]: c["reason"] for c in status["details"]["causes"]}
    assert causes.get("spec.replicas") == "FieldValueInvalid", causes
    assert causes.get("spec.template.spec.containers[0].image") == "FieldValueRequired", causes
    assert status["message"].startswith('Deployment.apps "bad" is invalid: [')
    assert "spec.replicas: Invalid value: -1: must be greater than or equal to 0" in status["message"]
    assert "spec.template.spec.containers[0].image: Required value" in status["message"]
    expect_error(404, apps.read_namespaced_deployment, "bad", ns)


def test_already_exists(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "x"}})
    status = expect_error(409, core.create_namespaced_config_map, ns, {"metadata": {"name": "x"}})
    assert status["reason"] == "AlreadyExists"
    assert status["message"] == 'configmaps "x" already exists'


@pytest.fixture(scope="module")
def compacting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[client.CoreV1Api]:
    """A dedicated server that forgets history within a second, so 410 Gone can be provoked."""
    from kubernetes import config

    root = tmp_path_factory.mktemp("compacting")
    srv = NavarchServer(root / "data", free_port(), args=[
        "--compaction-interval", "0.2", "--compaction-retention", "0.2", "--watch-cache-history", "0.5"])
    srv.start()
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(srv.kubeconfig), client_configuration=cfg)
    api = client.ApiClient(cfg)
    try:
        yield client.CoreV1Api(api)
    finally:
        api.close()
        srv.stop()


def _churn_until_compacted(core: client.CoreV1Api, ns: str) -> str:
    """Write, wait for compaction to pass the first write's revision; returns that old revision."""
    core.create_namespace({"metadata": {"name": ns}})
    first = core.create_namespaced_config_map(ns, {"metadata": {"name": "c"}, "data": {"i": "0"}})
    old = first.metadata.resource_version
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for i in range(3):
            core.patch_namespaced_config_map("c", ns, {"data": {"i": str(i)}})
        try:
            core.list_namespaced_config_map(ns, resource_version=old, resource_version_match="Exact")
        except ApiException as e:
            if e.status == 410:
                return old
            raise
        time.sleep(0.3)
    raise AssertionError("history was never compacted")


def test_gone_for_compacted_resource_version(compacting: client.CoreV1Api) -> None:
    """A list at an exact, compacted resourceVersion answers 410 Expired."""
    old = _churn_until_compacted(compacting, "churn-list")
    status = expect_error(410, compacting.list_namespaced_config_map, "churn-list", resource_version=old,
                          resource_version_match="Exact")
    assert status["reason"] == "Expired", status
    assert "too old" in status["message"], status


def test_watch_from_compacted_resource_version_is_gone(compacting: client.CoreV1Api) -> None:
    """Upstream answers 200 and then one ERROR event carrying a 410 Expired Status."""
    old = _churn_until_compacted(compacting, "churn-watch")
    # The watch cache may still replay what the store compacted (upstream's can too): let its
    # history window pass, then write so that it drops the old events.
    time.sleep(1.0)
    for i in range(3):
        compacting.patch_namespaced_config_map("c", "churn-watch", {"data": {"after": str(i)}})
    w = watch.Watch()
    with pytest.raises(ApiException) as info:
        for _ in w.stream(compacting.list_namespaced_config_map, "churn-watch", resource_version=old,
                          timeout_seconds=5, _request_timeout=15):
            pass
    assert info.value.status == 410
    assert str(info.value.reason).startswith("Expired: too old resource version: "), info.value.reason


def test_list_at_exact_resource_version(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "a"}})
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, {"metadata": {"name": "b"}})
    old = core.list_namespaced_config_map(ns, resource_version=rv, resource_version_match="Exact")
    assert [c.metadata.name for c in old.items] == ["a"]
    assert old.metadata.resource_version == rv


# --------------------------------------------------------------------------- pagination
def test_pagination_returns_everything_once(core: client.CoreV1Api, ns: str) -> None:
    names = [f"cm-{i:02d}" for i in range(25)]
    for n in names:
        core.create_namespaced_config_map(ns, {"metadata": {"name": n}})
    seen: list[str] = []
    pages = []
    token = None
    while True:
        page = core.list_namespaced_config_map(ns, limit=10, _continue=token)
        pages.append(page)
        seen += [c.metadata.name for c in page.items]
        if len(pages) == 1:
            # Continuing reads the snapshot of the first page: later writes do not show up.
            core.create_namespaced_config_map(ns, {"metadata": {"name": "cm-late"}})
        token = page.metadata._continue
        if not token:
            break
        assert len(pages) < 10
    assert [len(p.items) for p in pages] == [10, 10, 5]
    assert seen == names
    assert pages[0].metadata.remaining_item_count == 15
    assert pages[1].metadata.remaining_item_count == 5
    assert {p.metadata.resource_version for p in pages} == {pages[0].metadata.resource_version}
    assert "cm-late" in [c.metadata.name for c in core.list_namespaced_config_map(ns).items]


def test_pagination_with_label_selector(core: client.CoreV1Api, ns: str) -> None:
    for i in range(12):
        core.create_namespaced_config_map(ns, {"metadata": {"name": f"cm-{i:02d}",
                                                            "labels": {"even": str(i % 2 == 0).lower()}}})
    seen: list[str] = []
    token = None
    for _ in range(10):
        page = core.list_namespaced_config_map(ns, limit=4, _continue=token, label_selector="even=true")
        assert len(page.items) <= 4
        seen += [c.metadata.name for c in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert seen == [f"cm-{i:02d}" for i in range(0, 12, 2)]


# --------------------------------------------------------------------------- create options
def test_generate_name(core: client.CoreV1Api, ns: str) -> None:
    a = core.create_namespaced_config_map(ns, {"metadata": {"generateName": "gen-"}})
    b = core.create_namespaced_config_map(ns, {"metadata": {"generateName": "gen-"}})
    for cm in (a, b):
        assert re.fullmatch(r"gen-[a-z0-9]{5}", cm.metadata.name), cm.metadata.name
        assert cm.metadata.generate_name == "gen-"
    assert a.metadata.name != b.metadata.name
    assert {c.metadata.name for c in core.list_namespaced_config_map(ns).items} >= {a.metadata.name,
                                                                                      b.metadata.name}


def test_dry_run_all_stores_nothing(core: client.CoreV1Api, ns: str) -> None:
    dry = core.create_namespaced_config_map(ns, {"metadata": {"name": "dry"}, "data": {"a": "1"}}, dry_run="All")
    assert dry.metadata.name == "dry" and dry.data == {"a": "1"}
    assert dry.metadata.uid and dry.metadata.creation_timestamp
    expect_error(404, core.read_namespaced_config_map, "dry", ns)

    real = core.create_namespaced_config_map(ns, {"metadata": {"name": "real"}, "data": {"a": "1"}})
    real.data = {"a": "2"}
    out = core.replace_namespaced_config_map("real", ns, real, dry_run="All")
    assert out.data == {"a": "2"}
    core.patch_namespaced_config_map("real", ns, {"data": {"a": "3"}}, dry_run="All")
    core.delete_namespaced_config_map("real", ns, dry_run="All")
    stored = core.read_namespaced_config_map("real", ns)
    assert stored.data == {"a": "1"}
    assert stored.metadata.resource_version == real.metadata.resource_version

    status = expect_error(422, core.create_namespaced_config_map, ns, {"metadata": {"name": "x"}}, dry_run="Some")
    assert status["reason"] == "Invalid" and status["details"]["kind"] == "CreateOptions"


# --------------------------------------------------------------------------- delete
def test_delete_collection_with_label_selector(core: client.CoreV1Api, ns: str) -> None:
    for i in range(3):
        core.create_namespaced_config_map(ns, {"metadata": {"name": f"a{i}", "labels": {"team": "a"}}})
    for i in range(2):
        core.create_namespaced_config_map(ns, {"metadata": {"name": f"b{i}", "labels": {"team": "b"}}})
    core.delete_collection_namespaced_config_map(ns, label_selector="team=a")
    left = sorted(c.metadata.name for c in core.list_namespaced_config_map(ns).items)
    assert left == ["b0", "b1"]


def test_delete_with_preconditions(core: client.CoreV1Api, ns: str) -> None:
    cm = core.create_namespaced_config_map(ns, {"metadata": {"name": "x"}})
    wrong = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="00000000-0000-0000-0000-000000000000"))
    status = expect_error(409, core.delete_namespaced_config_map, "x", ns, body=wrong)
    assert status["reason"] == "Conflict"
    assert status["message"] == ('Operation cannot be fulfilled on configmaps "x": Precondition failed: '
                                 "UID in precondition: 00000000-0000-0000-0000-000000000000, "
                                 f"UID in object meta: {cm.metadata.uid}")
    assert core.read_namespaced_config_map("x", ns).metadata.resource_version == cm.metadata.resource_version

    stale_rv = client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version="1"))
    expect_error(409, core.delete_namespaced_config_map, "x", ns, body=stale_rv)

    right = client.V1DeleteOptions(preconditions=client.V1Preconditions(
        uid=cm.metadata.uid, resource_version=cm.metadata.resource_version))
    core.delete_namespaced_config_map("x", ns, body=right)
    expect_error(404, core.read_namespaced_config_map, "x", ns)


def test_finalizers_hold_deletion(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    core.delete_namespaced_config_map("held", ns)
    held = core.read_namespaced_config_map("held", ns)
    assert held.metadata.deletion_timestamp is not None
    assert held.metadata.deletion_grace_period_seconds == 0
    assert held.metadata.finalizers == ["example.com/hold"]

    # Deleting again changes nothing; adding a finalizer while deleting is forbidden.
    core.delete_namespaced_config_map("held", ns)
    again = core.read_namespaced_config_map("held", ns)
    assert again.metadata.resource_version == held.metadata.resource_version
    status = expect_error(422, core.patch_namespaced_config_map, "held", ns,
                          {"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}})
    assert status["reason"] == "Invalid"
    assert any(c.get("field") == "metadata.finalizers" for c in status["details"]["causes"]), status

    core.patch_namespaced_config_map("held", ns, {"metadata": {"finalizers": None}})
    expect_error(404, core.read_namespaced_config_map, "held", ns)


# --------------------------------------------------------------------------- selectors
def test_field_selectors(core: client.CoreV1Api, ns: str) -> None:
    for n in ("p1", "p2"):
        core.create_namespaced_pod(ns, {"metadata": {"name": n}, "spec": {"containers": [container()]}})

    def names(**kw: Any) -> list[str]:
        return sorted(p.metadata.name for p in core.list_namespaced_pod(ns, **kw).items)

    assert names(field_selector="metadata.name=p1") == ["p1"]
    assert names(field_selector="metadata.name!=p1") == ["p2"]
    assert names(field_selector="status.phase=Pending") == ["p1", "p2"]
    assert names(field_selector="status.phase=Running") == []
    assert names(field_selector="spec.nodeName=") == ["p1", "p2"]
    assert names(field_selector=f"metadata.namespace={ns},metadata.name=p2") == ["p2"]
    status = expect_error(400, core.list_namespaced_pod, ns, field_selector="spec.bogus=x")
    assert status["reason"] == "BadRequest"
    assert "field label not supported: spec.bogus" in status["message"]


@pytest.mark.parametrize(("selector", "want"), [
    ("env in (prod,dev)", ["a", "b"]),
    ("env notin (prod,dev)", ["c", "d"]),
    ("!env", ["d"]),
    ("env", ["a", "b", "c"]),
    ("env!=prod", ["b", "c", "d"]),
    ("env=prod,tier=web", ["a"]),
    ("tier==web,env!=dev", ["a"]),
    ("tier in (web),!missing", ["a", "b"]),
], ids=["in", "notin", "not-exists", "exists", "not-equals", "and", "double-equals", "in-and-not-exists"])
def test_label_selector_operators(core: client.CoreV1Api, ns: str, selector: str, want: list[str]) -> None:
    labels = {"a": {"env": "prod", "tier": "web"}, "b": {"env": "dev", "tier": "web"}, "c": {"env": "qa"}, "d": {}}
    for name, lab in labels.items():
        core.create_namespaced_config_map(ns, {"metadata": {"name": name, "labels": lab}})
    got = sorted(c.metadata.name for c in core.list_namespaced_config_map(ns, label_selector=selector).items)
    assert got == want


def test_invalid_label_selector_is_bad_request(core: client.CoreV1Api, ns: str) -> None:
    status = expect_error(400, core.list_namespaced_config_map, ns, label_selector="env in prod")
    assert status["reason"] == "BadRequest"

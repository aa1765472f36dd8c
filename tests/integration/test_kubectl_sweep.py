"""An adversarial sweep of the API server with real kubectl (1.33, 1.27, 1.34), compared with upstream 1.33.

Each test pins one behaviour a real kube-apiserver 1.33 shows through kubectl. Tests marked
``xfail(strict=True)`` record a known discrepancy: they fail today and start passing (and so must lose
the marker) when the server is fixed. The module runs its own server with the scheduler and controller
manager disabled, so only what the API server itself answers is checked.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients import kubectl_path
from tests.navarch_process import Kubectl, NavarchServer, running_server

# Every namespaced kind the server serves, one object each ({ns} is the test namespace).
NAMESPACED = """\
apiVersion: v1
kind: Pod
metadata: {{name: p1, namespace: {ns}, labels: {{app: web}}}}
spec:
  containers: [{{name: c, image: "nginx:1.25", ports: [{{containerPort: 80}}]}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}, labels: {{app: web}}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec: {{containers: [{{name: web, image: "nginx:1.25"}}]}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {{name: rs1, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: rs1}}}}
  template:
    metadata: {{labels: {{app: rs1}}}}
    spec: {{containers: [{{name: c, image: busybox}}]}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: sts1, namespace: {ns}}}
spec:
  serviceName: sts1
  selector: {{matchLabels: {{app: sts1}}}}
  template:
    metadata: {{labels: {{app: sts1}}}}
    spec: {{containers: [{{name: c, image: busybox}}]}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: ds1, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: ds1}}}}
  template:
    metadata: {{labels: {{app: ds1}}}}
    spec: {{containers: [{{name: c, image: busybox}}]}}
---
apiVersion: v1
kind: ReplicationController
metadata: {{name: rc1, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{app: rc1}}
  template:
    metadata: {{labels: {{app: rc1}}}}
    spec: {{containers: [{{name: c, image: busybox}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: cm1, namespace: {ns}}}
data: {{a: "1"}}
---
apiVersion: v1
kind: Secret
metadata: {{name: s1, namespace: {ns}}}
stringData: {{password: x}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: sa1, namespace: {ns}}}
---
apiVersion: batch/v1
kind: Job
metadata: {{name: job1, namespace: {ns}}}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: c, image: busybox}}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {{name: cj1, namespace: {ns}}}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{{name: c, image: busybox}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: ing1, namespace: {ns}}}
spec:
  rules:
  - host: foo.example.com
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: np1, namespace: {ns}}}
spec: {{podSelector: {{matchLabels: {{app: web}}}}, policyTypes: [Ingress]}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: pvc1, namespace: {ns}}}
spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: pdb1, namespace: {ns}}}
spec: {{minAvailable: 1, selector: {{matchLabels: {{app: nothing}}}}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: hpa1, namespace: {ns}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
  maxReplicas: 5
  metrics:
  - type: Resource
    resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 50}}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: r1, namespace: {ns}}}
rules: [{{apiGroups: [""], resources: [pods], verbs: [get]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: rb1, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: r1}}
subjects: [{{kind: ServiceAccount, name: sa1, namespace: {ns}}}]
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {{name: lease1, namespace: {ns}}}
spec: {{holderIdentity: me, leaseDurationSeconds: 15}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: web-abc, namespace: {ns}, labels: {{kubernetes.io/service-name: web}}}}
addressType: IPv4
ports: [{{port: 8080, protocol: TCP}}]
endpoints: [{{addresses: [10.42.1.5], conditions: {{ready: true}}}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: web, namespace: {ns}}}
subsets: [{{addresses: [{{ip: 10.42.1.5}}], ports: [{{port: 8080}}]}}]
---
apiVersion: v1
kind: Event
metadata: {{name: p1.1, namespace: {ns}}}
involvedObject: {{kind: Pod, name: p1, namespace: {ns}, apiVersion: v1}}
reason: Testing
message: hello event
type: Normal
count: 1
firstTimestamp: "2024-01-01T00:00:00Z"
lastTimestamp: "2024-01-01T00:00:00Z"
source: {{component: qa}}
---
apiVersion: events.k8s.io/v1
kind: Event
metadata: {{name: ev2, namespace: {ns}}}
eventTime: "2024-01-01T00:00:00.000000Z"
reportingController: qa/ctl
reportingInstance: qa-1
action: Test
reason: Tested
type: Warning
note: a new-style event
regarding: {{kind: Pod, name: p1, namespace: {ns}}}
---
apiVersion: v1
kind: LimitRange
metadata: {{name: lr1, namespace: {ns}}}
spec: {{limits: [{{type: Container, default: {{cpu: 500m}}}}]}}
---
apiVersion: v1
kind: ResourceQuota
metadata: {{name: rq1, namespace: {ns}}}
spec: {{hard: {{pods: "10"}}}}
---
apiVersion: v1
kind: PodTemplate
metadata: {{name: pt1, namespace: {ns}}}
template:
  metadata: {{labels: {{a: b}}}}
  spec: {{containers: [{{name: c, image: busybox}}]}}
---
apiVersion: apps/v1
kind: ControllerRevision
metadata: {{name: cr-1, namespace: {ns}}}
revision: 1
data: {{spec: {{}}}}
"""

# Every cluster-scoped kind, names made unique with {sfx} because the server is shared by the session.
CLUSTER = """\
apiVersion: v1
kind: Node
metadata: {{name: node-{sfx}, labels: {{kubernetes.io/hostname: node-{sfx}}}}}
spec: {{podCIDR: 10.42.7.0/24}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {{name: pv-{sfx}}}
spec: {{capacity: {{storage: 1Gi}}, accessModes: [ReadWriteOnce], hostPath: {{path: /tmp/pv}}}}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {{name: sc-{sfx}}}
provisioner: kubernetes.io/no-provisioner
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {{name: ic-{sfx}}}
spec: {{controller: k8s.io/ingress-nginx}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: cr-{sfx}}}
rules: [{{apiGroups: [""], resources: [nodes], verbs: [get]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: crb-{sfx}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cr-{sfx}}}
subjects: [{{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}}]
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {{name: pc-{sfx}}}
value: 1000
---
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {{name: csr-{sfx}}}
spec:
  request: {csr}
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
"""

# Upstream 1.33 printer columns (pkg/printers/internalversion/printers.go), comma-separated, in the order
# of the ``kubectl get`` below; the third item is what -o wide adds (``+``) or shows instead.
_EVENT_WIDE = "LAST SEEN,TYPE,REASON,OBJECT,SUBOBJECT,SOURCE,MESSAGE,FIRST SEEN,COUNT,NAME"
ENDPOINTS_WARNING = "Warning: v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"
NAMESPACED_TYPES = [
    ("configmaps", "NAME,DATA,AGE", ""),
    ("endpoints", "NAME,ENDPOINTS,AGE", ""),
    ("events", "LAST SEEN,TYPE,REASON,OBJECT,MESSAGE", _EVENT_WIDE),
    ("limitranges", "NAME,CREATED AT", ""),
    ("persistentvolumeclaims", "NAME,STATUS,VOLUME,CAPACITY,ACCESS MODES,STORAGECLASS,VOLUMEATTRIBUTESCLASS,AGE", "+VOLUMEMODE"),
    ("pods", "NAME,READY,STATUS,RESTARTS,AGE", "+IP,NODE,NOMINATED NODE,READINESS GATES"),
    ("podtemplates", "NAME,CONTAINERS,IMAGES,POD LABELS", ""),
    ("replicationcontrollers", "NAME,DESIRED,CURRENT,READY,AGE", "+CONTAINERS,IMAGES,SELECTOR"),
    ("resourcequotas", "NAME,REQUEST,LIMIT,AGE", ""),
    ("secrets", "NAME,TYPE,DATA,AGE", ""),
    ("serviceaccounts", "NAME,SECRETS,AGE", ""),
    ("services", "NAME,TYPE,CLUSTER-IP,EXTERNAL-IP,PORT(S),AGE", "+SELECTOR"),
    ("controllerrevisions.apps", "NAME,CONTROLLER,REVISION,AGE", ""),
    ("daemonsets.apps", "NAME,DESIRED,CURRENT,READY,UP-TO-DATE,AVAILABLE,NODE SELECTOR,AGE", "+CONTAINERS,IMAGES,SELECTOR"),
    ("deployments.apps", "NAME,READY,UP-TO-DATE,AVAILABLE,AGE", "+CONTAINERS,IMAGES,SELECTOR"),
    ("replicasets.apps", "NAME,DESIRED,CURRENT,READY,AGE", "+CONTAINERS,IMAGES,SELECTOR"),
    ("statefulsets.apps", "NAME,READY,AGE", "+CONTAINERS,IMAGES"),
    ("horizontalpodautoscalers.autoscaling", "NAME,REFERENCE,TARGETS,MINPODS,MAXPODS,REPLICAS,AGE", ""),
    ("cronjobs.batch", "NAME,SCHEDULE,TIMEZONE,SUSPEND,ACTIVE,LAST SCHEDULE,AGE", "+CONTAINERS,IMAGES,SELECTOR"),
    ("jobs.batch", "NAME,STATUS,COMPLETIONS,DURATION,AGE", "+CONTAINERS,IMAGES,SELECTOR"),
    ("leases.coordination.k8s.io", "NAME,HOLDER,AGE", ""),
    ("endpointslices.discovery.k8s.io", "NAME,ADDRESSTYPE,PORTS,ENDPOINTS,AGE", ""),
    ("events.events.k8s.io", "LAST SEEN,TYPE,REASON,OBJECT,MESSAGE", _EVENT_WIDE),
    ("ingresses.networking.k8s.io", "NAME,CLASS,HOSTS,ADDRESS,PORTS,AGE", ""),
    ("networkpolicies.networking.k8s.io", "NAME,POD-SELECTOR,AGE", ""),
    ("poddisruptionbudgets.policy", "NAME,MIN AVAILABLE,MAX UNAVAILABLE,ALLOWED DISRUPTIONS,AGE", ""),
    ("rolebindings.rbac.authorization.k8s.io", "NAME,ROLE,AGE", "+USERS,GROUPS,SERVICEACCOUNTS"),
    ("roles.rbac.authorization.k8s.io", "NAME,CREATED AT", ""),
]
CLUSTER_TYPES = [
    ("namespaces", "NAME,STATUS,AGE", ""),
    ("nodes", "NAME,STATUS,ROLES,AGE,VERSION", "+INTERNAL-IP,EXTERNAL-IP,OS-IMAGE,KERNEL-VERSION,CONTAINER-RUNTIME"),
    ("persistentvolumes", "NAME,CAPACITY,ACCESS MODES,RECLAIM POLICY,STATUS,CLAIM,STORAGECLASS,VOLUMEATTRIBUTESCLASS,REASON,AGE",
     "+VOLUMEMODE"),
    ("certificatesigningrequests.certificates.k8s.io", "NAME,AGE,SIGNERNAME,REQUESTOR,REQUESTEDDURATION,CONDITION", ""),
    ("ingressclasses.networking.k8s.io", "NAME,CONTROLLER,PARAMETERS,AGE", ""),
    ("clusterrolebindings.rbac.authorization.k8s.io", "NAME,ROLE,AGE", "+USERS,GROUPS,SERVICEACCOUNTS"),
    ("clusterroles.rbac.authorization.k8s.io", "NAME,CREATED AT", ""),
    ("priorityclasses.scheduling.k8s.io", "NAME,VALUE,GLOBAL-DEFAULT,AGE,PREEMPTIONPOLICY", ""),
    ("storageclasses.storage.k8s.io", "NAME,PROVISIONER,RECLAIMPOLICY,VOLUMEBINDINGMODE,ALLOWVOLUMEEXPANSION,AGE", ""),
]

# A syntactically valid PKCS#10 request (CN=bob, O=devs); the API server only stores it.
CSR_PEM_B64 = (
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KTUlJQ1lqQ0NBVW9DQVFBd0hURU1NQW9HQTFVRUF3d0RZbTlp"
    "TVEwd0N3WURWUVFLREFSa1pYWnpNSUlCSWpBTgpCZ2txaGtpRzl3MEJBUUVGQUFPQ0FROEFNSUlCQ2dLQ0FRRUFzenpqZGI0"
    "Y2JMQzZkWjFRUTczMzRndU12NmxMClprckxjZC9rdDN0V1FWQktMSzFWSDNDVkU3aWkwWHh4Z2Y1Mk1iY1JhdXg2ZWprdUdS"
    "NmF4RGZJUS9ORTFrTGMKck1pVEZuMTdTVmtvOVB6cks5NEtZSlN2OU9sSUNUU2hydzN2SmVMTzNYWDREWGNCaEJEOXZFajZo"
    "b0JveGszcwpGNXo1bld5WGk2L1JzMStCc0FqNjhFN0Y3TkR6M1UzUmJPaFdjMnZvMFZ0YXhOSC9SdTJoN2RobDRWcis0Rkd5"
    "ClNpZUpSdWtibHZ0VkN6YjAya2pUcHhCMzZQcytPVVROV3ErUEpNNjVlbkpzNEFDRWc5aHZZUHZSYk1aY09JbEkKZHlub3Mv"
    "MGpGb0Q3ZU1HUWVJaWwwaFE3T2lxSVlpdnhVUkpTbVhlU3R1Mk9IeGsyZ3VLanM0elEwUUlEQVFBQgpvQUF3RFFZSktvWklo"
    "dmNOQVFFTEJRQURnZ0VCQUh1MTgxaEtCcXJ1R2NPaTVTOC9zTFNMb092N3ZKaDJzOXFBClFrV0hHeDN6eXk2Zm91RzZBaWJ6"
    "L2dQdlJKenJ5MzZRbTY0RVRiamZoZWVHUmZGb3hDRnZuL0d0cjVQTHk4SksKK1VYUVJUeE9pRWMxK2xKNyt2NFQvMUNKZ3lY"
    "VnNqRTVCemc0ejdrVE1FUmNnbWJnczl2ZnljK1ZWVzdDUmdyYQo5K3BxVHNKTUVrOG45d2kvTklCTVhJZm8yOEdGVTRSQ2pl"
    "UUVIbnd3RlNoNnRZSEIrQTVCMk1ZS1NsMk9DbURiCkdtdzJ2ZXhPRHY0YzZtd0s3Wkc0clFMNkZRMWhqQUFmMUZFRXhSRFp4"
    "M1p2a0dQNmVleHZXc3pNc2hBUCtmdjcKb1J6L0FPNXladlNQMXMwOG5ld21hcWFWcm9IODNPbVdyQTVjakRPYTk2aFVuMGNE"
    "eDh3PQotLS0tLUVORCBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K"
)


def _expected(default: str, wide: str, is_wide: bool) -> list[str]:
    """Header columns: ``default`` comma-separated; ``wide`` either appends (``+...``) or replaces them."""
    cols = default.split(",")
    if not is_wide or not wide:
        return cols
    return cols + wide[1:].split(",") if wide.startswith("+") else wide.split(",")


def _headers(out: str) -> list[list[str]]:
    """The header row of each table kubectl printed, split into columns (2+ spaces separate them)."""
    blocks = [b for b in re.split(r"\n\s*\n", out.strip()) if b.strip()]
    return [re.split(r"\s{2,}", b.splitlines()[0].strip()) for b in blocks]


def _popen(k: Kubectl, *args: str) -> subprocess.Popen:
    return subprocess.Popen([k.path, "--kubeconfig", str(k.kubeconfig), "--cache-dir", str(k.cache_dir), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _json(k: Kubectl, *args: str) -> dict:
    return json.loads(k(*args, "-o", "json"))


def _sfx() -> str:
    return uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def server() -> Iterator[NavarchServer]:
    """An API server alone: no scheduler, controllers or node agent act on what the tests store."""
    with running_server("sweep") as srv:
        yield srv


def _client(version: str, srv: NavarchServer) -> Kubectl:
    if kubectl_path(version) is None:
        pytest.skip(f"kubectl {version} is not installed")
    return Kubectl(version, srv.kubeconfig)


@pytest.fixture(scope="module")
def kubectl133(server: NavarchServer) -> Kubectl:
    return _client("1.33", server)


@pytest.fixture(scope="module")
def kubectl127(server: NavarchServer) -> Kubectl:
    return _client("1.27", server)


@pytest.fixture(scope="module")
def kubectl134(server: NavarchServer) -> Kubectl:
    return _client("1.34", server)


@pytest.fixture(params=["1.33", "1.27"])
def kubectl(request: pytest.FixtureRequest) -> Kubectl:
    """Each test once per version; the clients (and their discovery caches) live for the module."""
    return request.getfixturevalue("kubectl" + request.param.replace("1.", "1"))


@pytest.fixture
def namespace(kubectl133: Kubectl) -> str:
    name = f"sweep-{_sfx()}"
    kubectl133("create", "namespace", name)
    return name


@pytest.fixture(scope="module")
def everything(kubectl133: Kubectl, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """One object of every served kind, shared read-only by the module: (namespace, cluster-name suffix)."""
    sfx = _sfx()
    ns = f"all-{sfx}"
    kubectl133("create", "namespace", ns)
    f = tmp_path_factory.mktemp("all") / "all.yaml"
    f.write_text(NAMESPACED.format(ns=ns) + "---\n" + CLUSTER.format(sfx=sfx, csr=CSR_PEM_B64))
    kubectl133("apply", "-f", str(f))
    return ns, sfx


WORKLOADS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}, labels: {{app: web}}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec: {{containers: [{{name: web, image: "nginx:1.25"}}]}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {{name: rs1, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: rs1}}}}
  template:
    metadata: {{labels: {{app: rs1}}}}
    spec: {{containers: [{{name: c, image: busybox}}]}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: sts1, namespace: {ns}}}
spec:
  serviceName: sts1
  selector: {{matchLabels: {{app: sts1}}}}
  template:
    metadata: {{labels: {{app: sts1}}}}
    spec: {{containers: [{{name: c, image: busybox}}]}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: ds1, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: ds1}}}}
  template:
    metadata: {{labels: {{app: ds1}}}}
    spec: {{containers: [{{name: c, image: busybox}}]}}
---
apiVersion: v1
kind: ReplicationController
metadata: {{name: rc1, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{app: rc1}}
  template:
    metadata: {{labels: {{app: rc1}}}}
    spec: {{containers: [{{name: c, image: busybox}}]}}
"""


@pytest.fixture
def workloads(kubectl133: Kubectl, namespace: str, tmp_path: Path) -> str:
    """The scalable and rollable kinds in a fresh namespace, for tests that change them."""
    f = tmp_path / "workloads.yaml"
    f.write_text(WORKLOADS.format(ns=namespace))
    kubectl133("apply", "-f", str(f))
    return namespace


# --------------------------------------------------------------------------------------------- get


@pytest.mark.parametrize("wide", [False, True], ids=["default", "wide"])
def test_get_every_served_type_has_upstream_columns(kubectl: Kubectl, everything: tuple[str, str],
                                                    wide: bool) -> None:
    ns, _ = everything
    extra = ["-o", "wide"] if wide else []
    out = kubectl("get", ",".join(t for t, _, _ in NAMESPACED_TYPES), "-n", ns, *extra)
    got = _headers(out)
    want = [_expected(d, w, wide) for _, d, w in NAMESPACED_TYPES]
    assert got == want
    out = kubectl("get", ",".join(t for t, _, _ in CLUSTER_TYPES), *extra)
    assert _headers(out) == [_expected(d, w, wide) for _, d, w in CLUSTER_TYPES]


def test_get_every_type_empty_says_no_resources(kubectl133: Kubectl, namespace: str) -> None:
    r = kubectl133.run("get", ",".join(t for t, _, _ in NAMESPACED_TYPES), "-n", namespace)
    # Upstream 1.33 warns on every read and write of v1 Endpoints (KEP-4974).
    assert r.stdout == "" and r.stderr.strip().splitlines() == [
        ENDPOINTS_WARNING, f"No resources found in {namespace} namespace."]
    r = kubectl133.run("get", "pods", "-n", namespace, "-o", "json")
    assert json.loads(r.stdout)["items"] == []


def test_get_cells_look_like_a_real_cluster(kubectl133: Kubectl, everything: tuple[str, str]) -> None:
    ns, sfx = everything
    k = kubectl133
    rows = {line.split()[0]: line.split() for line in k("get", "all", "-n", ns, "--no-headers").splitlines()
            if line.strip()}
    assert rows["pod/p1"][1:4] == ["0/1", "Pending", "0"]
    assert rows["deployment.apps/web"][1:4] == ["0/2", "0", "0"]
    assert rows["service/web"][1] == "ClusterIP" and rows["service/web"][4] == "80/TCP"
    assert rows["job.batch/job1"][1:3] == ["Running", "0/1"]
    assert rows["horizontalpodautoscaler.autoscaling/hpa1"][1:4] == ["Deployment/web", "cpu:", "<unknown>/50%"]
    job = k("get", "job", "job1", "-n", ns, "-o", "wide", "--no-headers").split()
    assert job[-1].startswith("batch.kubernetes.io/controller-uid=")
    assert k("get", "ep", "web", "-n", ns, "--no-headers").split()[1] == "10.42.1.5:8080"
    assert k("get", "endpointslice", "web-abc", "-n", ns, "--no-headers").split()[1:4] == ["IPv4", "8080", "10.42.1.5"]
    # both event APIs share storage, so the namespace's list holds every event: pick the core one
    row = [line for line in k("get", "ev", "-n", ns, "--no-headers").splitlines() if "hello" in line][0]
    assert row.split()[1:5] == ["Normal", "Testing", "pod/p1", "hello"]
    assert k("get", "limits", "lr1", "-n", ns, "-o", "jsonpath={.spec.limits[0].defaultRequest.cpu}") == "500m"
    node = k("get", "node", f"node-{sfx}", "--no-headers").split()
    assert node[1:3] == ["Unknown", "<none>"]
    k("cordon", f"node-{sfx}")
    assert k("get", "node", f"node-{sfx}", "--no-headers").split()[1] == "Unknown,SchedulingDisabled"
    assert k("get", "csr", f"csr-{sfx}", "--no-headers").split()[-1] == "Pending"
    assert k("get", "pvc", "pvc1", "-n", ns, "--no-headers").split()[1:3] == ["Pending", "<unset>"]


def test_output_formats_sort_labels_and_chunks(kubectl133: Kubectl, namespace: str) -> None:
    k, ns = kubectl133, namespace
    for i in (3, 1, 5, 2, 4):
        k("create", "configmap", f"c{i}", f"--from-literal=k={i}", "-n", ns)
    k("label", "cm", "c3", "tier=x", "-n", ns)
    names = [n for n in k("get", "cm", "-n", ns, "-o", "name").split() if n.startswith("configmap/c")]
    assert names == [f"configmap/c{i}" for i in range(1, 6)]
    assert k("get", "cm", "c2", "-n", ns, "-o", "jsonpath={.data.k}") == "2"
    cc = k("get", "cm", "c1", "c2", "-n", ns, "-o", "custom-columns=N:.metadata.name,K:.data.k").split()
    assert cc == ["N", "K", "c1", "1", "c2", "2"]
    gt = k("get", "cm", "c1", "c4", "-n", ns, "-o", "go-template={{range .items}}{{.metadata.name}} {{end}}")
    assert gt.split() == ["c1", "c4"]
    order = [line.split()[0] for line in k("get", "cm", "-n", ns, "--sort-by=.metadata.creationTimestamp",
                                          "--no-headers").splitlines()]
    assert sorted(n for n in order if n.startswith("c")) == ["c1", "c2", "c3", "c4", "c5"]
    by_data = k("get", "cm", "-l", "!nothing", "-n", ns, "--sort-by={.data.k}", "-o", "name").split()
    assert [n for n in by_data if n.startswith("configmap/c")] == [f"configmap/c{i}" for i in range(1, 6)]
    labels = k("get", "cm", "c3", "-n", ns, "--show-labels").splitlines()
    assert labels[0].split()[-1] == "LABELS" and labels[1].split()[-1] == "tier=x"
    col = k("get", "cm", "c3", "c4", "-n", ns, "-L", "tier").splitlines()
    assert col[0].split()[-1] == "TIER" and col[1].split()[-1] == "x" and len(col[2].split()) == 3
    r = k.run("get", "cm", "-n", ns, "--chunk-size=2", "-v=6", check=False)
    pages = [line for line in r.stderr.splitlines() if "configmaps?" in line and "GET" in line]
    assert len(pages) >= 3 and any("continue=" in p for p in pages)
    assert [line.split()[0] for line in r.stdout.splitlines()[1:] if line.startswith("c")] == \
        [f"c{i}" for i in range(1, 6)]


def test_get_several_types_and_all(kubectl133: Kubectl, everything: tuple[str, str]) -> None:
    ns, _ = everything
    out = kubectl133("get", "pods,svc,cm", "-n", ns)
    assert [h[0] for h in _headers(out)] == ["NAME", "NAME", "NAME"]
    assert "pod/p1" in out and "service/web" in out and "configmap/cm1" in out
    out = kubectl133("get", "all", "-n", ns, "-o", "name").split()
    for name in ("pod/p1", "service/web", "deployment.apps/web", "replicaset.apps/rs1", "statefulset.apps/sts1",
                 "daemonset.apps/ds1", "replicationcontroller/rc1", "job.batch/job1", "cronjob.batch/cj1",
                 "horizontalpodautoscaler.autoscaling/hpa1"):
        assert name in out
    assert "configmap/cm1" not in out
    assert f"{ns}   " in kubectl133("get", "pods", "-A")


def test_watch_watch_only_and_events(kubectl133: Kubectl, namespace: str) -> None:
    k, ns = kubectl133, namespace
    for n in ("w1", "w2", "gone"):
        k("create", "configmap", n, "-n", ns)
    plain = _popen(k, "get", "cm", "-n", ns, "-w")
    only = _popen(k, "get", "cm", "-n", ns, "--watch-only", "--output-watch-events")
    named = _popen(k, "get", "cm", "w1", "-n", ns, "-w", "-o", "name")
    try:
        time.sleep(1.2)
        k("label", "cm", "w1", "x=1", "-n", ns)
        k("delete", "cm", "gone", "-n", ns)
        k("create", "configmap", "w3", "-n", ns)
        time.sleep(1.0)
    finally:
        outs = []
        for p in (plain, only, named):
            p.kill()
            outs.append(p.communicate(timeout=5)[0])
    plain_out, only_out, named_out = outs
    assert plain_out.splitlines()[0].split() == ["NAME", "DATA", "AGE"]
    assert [line.split()[0] for line in plain_out.splitlines()[1:]][-3:] == ["w1", "gone", "w3"]
    events = [line.split()[:2] for line in only_out.splitlines()]
    assert events == [["EVENT", "NAME"], ["MODIFIED", "w1"], ["DELETED", "gone"], ["ADDED", "w3"]]
    assert named_out.split() == ["configmap/w1", "configmap/w1"]


def test_watch_with_label_selector_sees_objects_leave_and_return(kubectl133: Kubectl, namespace: str) -> None:
    k, ns = kubectl133, namespace
    k("create", "configmap", "sel", "-n", ns)
    k("label", "cm", "sel", "s=yes", "-n", ns)
    p = _popen(k, "get", "cm", "-n", ns, "-l", "s=yes", "-w", "--output-watch-events")
    try:
        time.sleep(1.0)
        k("label", "cm", "sel", "s=no", "--overwrite", "-n", ns)
        k("label", "cm", "sel", "s=yes", "--overwrite", "-n", ns)
        time.sleep(1.0)
    finally:
        p.kill()
        out = p.communicate(timeout=5)[0]
    assert [line.split()[0] for line in out.splitlines()] == ["EVENT", "ADDED", "DELETED", "ADDED"]


# ---------------------------------------------------------------------------------------- describe


DESCRIBE = [
    ("pod/p1", "Status:       Pending"), ("deploy/web", "RollingUpdateStrategy:  25% max unavailable, 25% max surge"),
    ("rs/rs1", "Replicas:     0 current / 1 desired"), ("svc/web", "Endpoints:                10.42.1.5:8080"),
    ("cm/cm1", "Data"), ("secret/s1", "password:  1 bytes"), ("sa/sa1", "Mountable secrets:"),
    ("job/job1", "Completion Mode:  NonIndexed"), ("cj/cj1", "Schedule:                      */5 * * * *"),
    ("ing/ing1", "web:80 (10.42.1.5:8080)"), ("pvc/pvc1", "Status:        Pending"),
    ("pdb/pdb1", "Min available:  1"), ("hpa/hpa1", "<unknown> / 50%"), ("role/r1", "PolicyRule:"),
    ("rolebinding/rb1", "ServiceAccount  sa1"), ("lease/lease1", "Holder Identity:"),
    ("endpointslice/web-abc", "AddressType:  IPv4"), ("sts/sts1", "Update Strategy:    RollingUpdate"),
    ("ds/ds1", "Desired Number of Nodes Scheduled: 0"), ("rc/rc1", "Replicas:     0 current / 1 desired"),
    ("netpol/np1", "PodSelector:     app=web"), ("limits/lr1", "Container   cpu"), ("quota/rq1", "Resource"),
    ("ep/web", "10.42.1.5"), ("event/p1.1", "hello event"),
]


def test_describe_every_kind(kubectl: Kubectl, everything: tuple[str, str]) -> None:
    ns, sfx = everything
    # kubectl 1.27 differs in what it fetches for services, ingresses, HPAs and PDBs (section 5).
    kinds = DESCRIBE if kubectl.version != "1.27" else [d for d in DESCRIBE if d[0].split("/")[0] in
                                                         ("pod", "deploy", "svc", "ing", "hpa", "pdb", "sa")]
    for obj, needle in kinds:
        r = kubectl.run("describe", obj, "-n", ns, check=False)
        # Reading v1 Endpoints (describing them, or a Service with kubectl 1.27) warns, as upstream 1.33.
        stderr = r.stderr.replace(ENDPOINTS_WARNING + "\n", "")
        assert r.returncode == 0 and stderr == "" and _loosely_in(needle, r.stdout), (obj, r.stdout, r.stderr)
    if kubectl.version == "1.27":
        return
    for obj, needle in [(f"node/node-{sfx}", "PodCIDR:"), (f"ns/{ns}", "Resource Quotas"),
                        (f"pv/pv-{sfx}", "HostPath"), (f"sc/sc-{sfx}", "IsDefaultClass:  No"),
                        (f"clusterrole/cr-{sfx}", "nodes"), (f"clusterrolebinding/crb-{sfx}", "alice"),
                        (f"pc/pc-{sfx}", "Value:"), (f"csr/csr-{sfx}", "Common Name:    bob"),
                        (f"ingressclass/ic-{sfx}", "k8s.io/ingress-nginx")]:
        r = kubectl.run("describe", obj, check=False)
        assert r.returncode == 0 and _loosely_in(needle, r.stdout), (obj, r.stdout, r.stderr)


def _loosely_in(needle: str, text: str) -> bool:
    """``needle`` in ``text`` with any run of spaces matching any run (column widths differ by version)."""
    return re.search(r"\s+".join(re.escape(w) for w in needle.split()), text) is not None


def test_describe_shows_events_and_owned_replicasets(kubectl133: Kubectl, workloads: str, tmp_path: Path) -> None:
    ns = workloads
    k = kubectl133
    uid = k("get", "deploy", "web", "-n", ns, "-o", "jsonpath={.metadata.uid}")
    _owned_replicasets(k, ns, uid, tmp_path)
    f = tmp_path / "ev.yaml"
    f.write_text(f"""\
apiVersion: v1
kind: Event
metadata: {{name: web.1, namespace: {ns}}}
involvedObject: {{kind: Deployment, name: web, namespace: {ns}, apiVersion: apps/v1, uid: {uid}}}
reason: ScalingReplicaSet
message: Scaled up replica set web-rev2 to 1
type: Normal
count: 3
firstTimestamp: "2024-01-01T00:00:00Z"
lastTimestamp: "2024-01-02T00:00:00Z"
source: {{component: deployment-controller}}
""")
    k("create", "-f", str(f))
    d = k("describe", "deploy", "web", "-n", ns)
    assert "OldReplicaSets:    web-rev1 (0/0 replicas created)" in d
    assert "NewReplicaSet:     web-rev2" in d or "NewReplicaSet:     <none>" in d
    assert re.search(r"Normal\s+ScalingReplicaSet\s+\S+ \(x3 over \S+\)\s+deployment-controller", d)


def _owned_replicasets(k: Kubectl, ns: str, uid: str, tmp_path: Path) -> None:
    docs = []
    for rev in (1, 2):
        docs.append(f"""\
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-rev{rev}
  namespace: {ns}
  labels: {{app: web, pod-template-hash: h{rev}}}
  annotations: {{deployment.kubernetes.io/revision: "{rev}"}}
  ownerReferences:
  - {{apiVersion: apps/v1, kind: Deployment, name: web, uid: {uid}, controller: true, blockOwnerDeletion: true}}
spec:
  replicas: 0
  selector: {{matchLabels: {{app: web, pod-template-hash: h{rev}}}}}
  template:
    metadata: {{labels: {{app: web, pod-template-hash: h{rev}}}}}
    spec: {{containers: [{{name: web, image: "nginx:1.2{rev}"}}]}}
""")
    f = tmp_path / "rs.yaml"
    f.write_text("---\n".join(docs))
    k("apply", "-f", str(f))
    k("annotate", "deploy", "web", "-n", ns, "deployment.kubernetes.io/revision=2", "--overwrite")


# ------------------------------------------------------------------------------------------ create


@pytest.mark.parametrize("version", ["1.27", "1.33", "1.34"])
def test_every_create_generator(request: pytest.FixtureRequest, version: str, namespace: str,
                                tmp_path: Path) -> None:
    """kubectl 1.33 and 1.34 send these bodies as protobuf, 1.27 as JSON."""
    k = request.getfixturevalue("kubectl" + version.replace("1.", "1"))
    ns, v = namespace, version.replace(".", "")
    sfx = _sfx()
    props = tmp_path / "f.properties"
    props.write_text("x=1\n")
    crt, key = _self_signed(tmp_path)
    cmds = [
        ("deployment", "d1", "--image=nginx", "--replicas=2", "--port=80"),
        ("cronjob", "cj", "--image=busybox", "--schedule=*/1 * * * *", "--", "date"),
        ("job", "j1", "--image=busybox", "--", "echo", "hi"),
        ("job", "j2", "--from=cronjob/cj"),
        ("service", "clusterip", "s1", "--tcp=80:8080"),
        ("service", "clusterip", "s2", "--clusterip=None"),
        ("service", "nodeport", "s3", "--tcp=80:8080"),
        ("service", "loadbalancer", "s4", "--tcp=443:8443"),
        ("service", "externalname", "s5", "--external-name=example.com"),
        ("secret", "generic", "sec1", "--from-literal=a=b"),
        ("secret", "tls", "sec2", f"--cert={crt}", f"--key={key}"),
        ("secret", "docker-registry", "sec3", "--docker-username=u", "--docker-password=p", "--docker-server=r.io"),
        ("configmap", "cm1", f"--from-file={props}"),
        ("quota", "q1", "--hard=cpu=1,pods=2", "--scopes=BestEffort"),
        ("role", "role1", "--verb=get,list", "--resource=pods,deployments.apps", "--resource-name=x"),
        ("rolebinding", "rb1", "--role=role1", "--user=bob", f"--serviceaccount={ns}:default", "--group=g"),
        ("clusterrole", f"cr-{v}-{sfx}", "--verb=get", "--resource=nodes", "--non-resource-url=/logs"),
        ("clusterrole", f"agg-{v}-{sfx}", "--aggregation-rule=rbac.example.com/aggregate-to-monitoring=true"),
        ("clusterrolebinding", f"crb-{v}-{sfx}", f"--clusterrole=cr-{v}-{sfx}", "--user=bob"),
        ("pdb", "pdb1", "--selector=app=x", "--min-available=50%"),
        ("priorityclass", f"pc-{v}-{sfx}", "--value=100", "--description=x", "--preemption-policy=Never"),
        ("ingress", "ing1", "--rule=foo.com/bar*=svc1:8080,tls=sec2", "--class=nginx"),
        ("serviceaccount", "sa1"),
    ]
    if version == "1.34":  # the same protobuf bodies as 1.33: a sample is enough
        cmds = [c for c in cmds if c[0] in ("deployment", "cronjob", "job", "secret", "configmap", "clusterrole")]
    for args in cmds:
        out = k("-n", ns, "create", *args)
        assert " created" in out, (args, out)
    if version == "1.34":
        return
    svcs = {s["metadata"]["name"]: s["spec"] for s in _json(k, "get", "svc", "-n", ns)["items"]}
    assert svcs["s2"]["clusterIP"] == "None" and "clusterIP" not in svcs["s5"]
    assert 30000 <= svcs["s3"]["ports"][0]["nodePort"] <= 32767 and svcs["s4"]["type"] == "LoadBalancer"
    job = _json(k, "get", "job", "j2", "-n", ns)
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    agg = _json(k, "get", "clusterrole", f"agg-{v}-{sfx}")
    assert agg["aggregationRule"]["clusterRoleSelectors"][0]["matchLabels"] == \
        {"rbac.example.com/aggregate-to-monitoring": "true"}
    cr = _json(k, "get", "clusterrole", f"cr-{v}-{sfx}")
    assert {"nonResourceURLs": ["/logs"], "verbs": ["get"]} in cr["rules"]
    types = {s["metadata"]["name"]: s["type"] for s in _json(k, "get", "secrets", "-n", ns)["items"]}
    assert types == {"sec1": "Opaque", "sec2": "kubernetes.io/tls", "sec3": "kubernetes.io/dockerconfigjson"}
    assert _json(k, "get", "ing", "ing1", "-n", ns)["spec"]["ingressClassName"] == "nginx"
    assert _json(k, "get", "pc", f"pc-{v}-{sfx}")["preemptionPolicy"] == "Never"
    rb = _json(k, "get", "rolebinding", "rb1", "-n", ns)
    assert {s["kind"] for s in rb["subjects"]} == {"User", "Group", "ServiceAccount"}


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    crt, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(crt), "-subj", "/CN=foo", "-days", "1"], check=True, capture_output=True)
    return crt, key


def test_expose_and_run(kubectl133: Kubectl, namespace: str) -> None:
    k, ns = kubectl133, namespace
    k("create", "deployment", "d1", "--image=nginx", "--port=80", "-n", ns)
    assert "service/d1 exposed" in k("expose", "deployment", "d1", "--port=8080", "--target-port=80", "-n", ns)
    k("expose", "deployment", "d1", "--name=d1-np", "--type=NodePort", "--port=80", "-n", ns)
    svc = _json(k, "get", "svc", "d1-np", "-n", ns)["spec"]
    assert svc["selector"] == {"app": "d1"} and svc["ports"][0]["nodePort"] >= 30000
    assert "pod/r1 created" in k("run", "r1", "--image=nginx", "--labels=a=b", "--env=X=1", "--port=80", "-n", ns)
    pod = _json(k, "get", "pod", "r1", "-n", ns)
    c = pod["spec"]["containers"][0]
    assert c["env"] == [{"name": "X", "value": "1"}] and c["ports"][0]["protocol"] == "TCP"
    assert c["imagePullPolicy"] == "Always" and pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert pod["spec"]["priority"] == 0 and pod["spec"]["schedulerName"] == "default-scheduler"
    k("expose", "pod", "r1", "--port=81", "-n", ns)
    assert "pod/r3" in k("run", "r3", "--image=busybox", "--dry-run=server", "-o", "name", "-n", ns)
    assert k.run("get", "pod", "r3", "-n", ns, check=False).returncode == 1


# ----------------------------------------------------------------------------------------- apply


APPLY_1 = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app, namespace: {ns}, labels: {{a: "1", b: "2"}}}}
spec:
  selector: {{matchLabels: {{app: app}}}}
  strategy: {{type: RollingUpdate, rollingUpdate: {{maxSurge: 1}}}}
  template:
    metadata: {{labels: {{app: app}}}}
    spec:
      volumes: [{{name: v, emptyDir: {{}}}}]
      containers:
      - name: c1
        image: "nginx:1"
        args: [a, b]
        env: [{{name: A, value: "1"}}, {{name: B, value: "2"}}]
        ports: [{{containerPort: 80, name: http}}, {{containerPort: 81, name: metrics}}]
      - {{name: c2, image: busybox}}
"""
APPLY_2 = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app, namespace: {ns}, labels: {{a: "1"}}}}
spec:
  selector: {{matchLabels: {{app: app}}}}
  strategy: {{type: Recreate}}
  template:
    metadata: {{labels: {{app: app}}}}
    spec:
      volumes: [{{name: v, hostPath: {{path: /tmp}}}}]
      containers:
      - name: c1
        image: "nginx:2"
        args: [b]
        env: [{{name: B, value: "3"}}]
        ports: [{{containerPort: 81, name: metrics}}, {{containerPort: 82, name: extra}}]
"""


def test_client_side_apply_prunes_and_uses_directives(kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    k, ns = kubectl, namespace
    f1, f2 = tmp_path / "a1.yaml", tmp_path / "a2.yaml"
    f1.write_text(APPLY_1.format(ns=ns))
    f2.write_text(APPLY_2.format(ns=ns))
    assert "created" in k("apply", "-f", str(f1))
    assert "unchanged" in k("apply", "-f", str(f1))
    k("scale", "deploy", "app", "--replicas=3", "-n", ns)
    assert "configured" in k("apply", "-f", str(f2))
    d = _json(k, "get", "deploy", "app", "-n", ns)
    spec = d["spec"]["template"]["spec"]
    assert d["metadata"]["labels"] == {"a": "1"}
    assert d["spec"]["replicas"] == 3  # not in the manifest: kept
    assert d["spec"]["strategy"] == {"type": "Recreate"}  # $retainKeys dropped rollingUpdate
    assert spec["volumes"] == [{"name": "v", "hostPath": {"path": "/tmp", "type": ""}}]
    assert [c["name"] for c in spec["containers"]] == ["c1"]
    c1 = spec["containers"][0]
    assert c1["image"] == "nginx:2" and c1["args"] == ["b"] and c1["env"] == [{"name": "B", "value": "3"}]
    assert [p["containerPort"] for p in c1["ports"]] == [81, 82]
    last = k("apply", "view-last-applied", "deploy/app", "-n", ns, "-o", "json")
    assert json.loads(last)["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"
    r = k.run("diff", "-f", str(f1), check=False)
    assert r.returncode == 1 and "+        image: nginx:1" in r.stdout
    assert k.run("diff", "-f", str(f2), check=False).returncode == 0


def test_apply_edit_last_applied_and_edit(kubectl133: Kubectl, namespace: str, tmp_path: Path) -> None:
    k, ns = kubectl133, namespace
    k("create", "deployment", "app", "--image=nginx:2", "-n", ns, "--save-config")
    editor = tmp_path / "ed.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/nginx:2/nginx:3/' \"$1\"\n")
    editor.chmod(0o755)
    env = {"EDITOR": str(editor), "KUBE_EDITOR": str(editor)}
    assert "edited" in k("apply", "edit-last-applied", "deploy/app", "-n", ns, env=env)
    assert "nginx:3" in k("apply", "view-last-applied", "deploy/app", "-n", ns)
    assert k("get", "deploy", "app", "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0].image}") == "nginx:2"
    assert "edited" in k("edit", "deploy", "app", "-n", ns, env=env)
    assert k("get", "deploy", "app", "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0].image}") == "nginx:3"
    r = k.run("edit", "deploy", "app", "-n", ns, env=env)
    assert "Edit cancelled, no changes made." in r.stdout + r.stderr


def test_server_side_apply_creates_and_reapplies(kubectl133: Kubectl, namespace: str, tmp_path: Path) -> None:
    f = tmp_path / "ssa.yaml"
    f.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: ssa, namespace: {namespace}}}\ndata: {{a: '1'}}\n")
    assert "serverside-applied" in kubectl133("apply", "--server-side", "-f", str(f))
    assert "serverside-applied" in kubectl133("apply", "--server-side", "-f", str(f))
    assert kubectl133("get", "cm", "ssa", "-n", namespace, "-o", "jsonpath={.data.a}") == "1"
    out = kubectl133("apply", "--server-side", "--dry-run=server", "-f", str(f))
    assert "serverside-applied (server dry run)" in out


def test_server_side_apply_conflict_between_managers(kubectl133: Kubectl, namespace: str, tmp_path: Path) -> None:
    k, ns = kubectl133, namespace
    f = tmp_path / "ssa.yaml"
    f.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: ssa, namespace: {ns}}}\ndata: {{a: '1'}}\n")
    k("apply", "--server-side", "-f", str(f))
    f.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: ssa, namespace: {ns}}}\ndata: {{a: '9'}}\n")
    r = k.run("apply", "--server-side", "--field-manager=other", "-f", str(f), check=False)
    assert r.returncode == 1 and "conflict" in r.stderr and ".data.a" in r.stderr
    assert "serverside-applied" in k("apply", "--server-side", "--field-manager=other", "--force-conflicts",
                                     "-f", str(f))


def test_server_side_apply_removes_fields_dropped_from_the_manifest(kubectl133: Kubectl, namespace: str,
                                                                     tmp_path: Path) -> None:
    k, ns = kubectl133, namespace
    f = tmp_path / "ssa.yaml"
    f.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: s, namespace: {ns}, labels: {{x: '1'}}}}\n"
                 "data: {a: '1', b: '2'}\n")
    k("apply", "--server-side", "-f", str(f))
    f.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: s, namespace: {ns}}}\ndata: {{a: '1'}}\n")
    k("apply", "--server-side", "-f", str(f))
    cm = _json(k, "get", "cm", "s", "-n", ns)
    assert cm["data"] == {"a": "1"} and "x" not in (cm["metadata"].get("labels") or {})


def test_writes_record_managed_fields(kubectl133: Kubectl, namespace: str) -> None:
    kubectl133("create", "configmap", "mf", "--from-literal=a=b", "-n", namespace)
    cm = _json(kubectl133, "get", "cm", "mf", "-n", namespace, "--show-managed-fields")
    mf = cm["metadata"]["managedFields"]
    assert mf[0]["manager"] == "kubectl-create" and mf[0]["operation"] == "Update"
    assert mf[0]["fieldsType"] == "FieldsV1" and "f:data" in mf[0]["fieldsV1"]


def test_replace_and_replace_force(kubectl133: Kubectl, namespace: str, tmp_path: Path) -> None:
    k, ns = kubectl133, namespace
    k("create", "configmap", "r", "--from-literal=a=1", "-n", ns)
    live = k("get", "cm", "r", "-n", ns, "-o", "yaml")
    f = tmp_path / "r.yaml"
    f.write_text(live.replace('a: "1"', 'a: "2"'))
    assert "replaced" in k("replace", "-f", str(f))
    r = k.run("replace", "-f", str(f), check=False)
    assert r.returncode == 1 and "Error from server (Conflict)" in r.stderr and "the object has been modified" in r.stderr
    f.write_text("\n".join(line for line in live.replace('a: "1"', 'a: "3"').splitlines()
                           if "resourceVersion" not in line))
    assert "replaced" in k("replace", "-f", str(f))
    uid = k("get", "cm", "r", "-n", ns, "-o", "jsonpath={.metadata.uid}")
    out = k("replace", "--force", "-f", str(f))
    assert 'configmap "r" deleted' in out and "configmap/r replaced" in out
    assert k("get", "cm", "r", "-n", ns, "-o", "jsonpath={.metadata.uid}") != uid


# ----------------------------------------------------------------------------------------- patch


def test_patch_types_and_subresources(kubectl133: Kubectl, namespace: str) -> None:
    k, ns = kubectl133, namespace
    k("create", "deployment", "app", "--image=nginx", "--image=busybox", "-n", ns)
    k("patch", "deploy", "app", "-n", ns, "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"busybox","image":"busybox:2"}]}}}}')
    k("patch", "deploy", "app", "-n", ns, "--type=merge", "-p", '{"metadata":{"labels":{"m":"1"}}}')
    k("patch", "deploy", "app", "-n", ns, "--type=json", "-p", '[{"op":"replace","path":"/spec/replicas","value":4}]')
    assert "patched (no change)" in k("patch", "deploy", "app", "-n", ns, "--type=merge", "-p",
                                      '{"metadata":{"labels":{"m":"1"}}}')
    d = _json(k, "get", "deploy", "app", "-n", ns)
    assert [c["image"] for c in d["spec"]["template"]["spec"]["containers"]] == ["nginx", "busybox:2"]
    assert d["spec"]["replicas"] == 4 and d["metadata"]["labels"]["m"] == "1"
    gen = d["metadata"]["generation"]
    k("patch", "deploy", "app", "-n", ns, "--subresource=status", "--type=merge", "-p",
      '{"status":{"replicas":4,"readyReplicas":2,"availableReplicas":2,"updatedReplicas":4},"spec":{"replicas":9}}')
    row = k("get", "deploy", "app", "-n", ns, "--no-headers").split()
    assert row[1:4] == ["2/4", "4", "2"]
    assert "scale.autoscaling/app patched" in k("patch", "deploy", "app", "-n", ns, "--subresource=scale",
                                                "--type=merge", "-p", '{"spec":{"replicas":6}}')
    d = _json(k, "get", "deploy", "app", "-n", ns)
    assert d["spec"]["replicas"] == 6 and d["metadata"]["generation"] == gen + 1
    scale = _json(k, "get", "deploy", "app", "-n", ns, "--subresource=scale")
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 6} and scale["status"] == {"replicas": 4, "selector": "app=app"}


def test_patch_errors(kubectl133: Kubectl, namespace: str) -> None:
    k, ns = kubectl133, namespace
    k("create", "configmap", "p", "--from-literal=a=1", "-n", ns)
    r = k.run("patch", "cm", "p", "-n", ns, "-p", "{bad json", check=False)
    assert r.returncode == 1 and "Error from server (BadRequest)" in r.stderr
    r = k.run("patch", "cm", "p", "-n", ns, "--type=json", "-p", '[{"op":"remove","path":"/data/nope"}]',
              check=False)
    assert r.returncode == 1 and "The request is invalid" in r.stderr


def test_json_patch_test_failure_message(kubectl133: Kubectl, namespace: str) -> None:
    k, ns = kubectl133, namespace
    k("create", "deployment", "t", "--image=nginx", "--replicas=4", "-n", ns)
    r = k.run("patch", "deploy", "t", "-n", ns, "--type=json", "-p",
              '[{"op":"test","path":"/spec/replicas","value":5}]', check=False)
    assert r.returncode == 1 and "<class" not in r.stderr and "test" in r.stderr


def test_label_and_annotate(kubectl133: Kubectl, namespace: str) -> None:
    k, ns = kubectl133, namespace
    for n in ("l1", "l2", "l3"):
        k("create", "configmap", n, "-n", ns)
    assert "labeled" in k("label", "cm", "l1", "a=1", "-n", ns)
    r = k.run("label", "cm", "l1", "a=2", "-n", ns, check=False)
    assert r.returncode == 1 and "'a' already has a value (1), and --overwrite is false" in r.stderr
    k("label", "cm", "l1", "a=2", "--overwrite", "-n", ns)
    rv = k("get", "cm", "l1", "-n", ns, "-o", "jsonpath={.metadata.resourceVersion}")
    k("label", "cm", "l1", "b=1", f"--resource-version={rv}", "-n", ns)
    r = k.run("label", "cm", "l1", "c=1", f"--resource-version={rv}", "-n", ns, check=False)
    assert r.returncode == 1 and "Error from server (Conflict)" in r.stderr
    k("label", "cm", "--all", "z=9", "-n", ns)
    k("label", "cm", "-l", "z=9,a=2", "y=8", "-n", ns)
    assert "unlabeled" in k("label", "cm", "l1", "a-", "-n", ns)
    k("annotate", "cm", "l2", "note=hi", "-n", ns)
    r = k.run("annotate", "cm", "l2", "note=ho", "-n", ns, check=False)
    assert r.returncode == 1 and "--overwrite is false" in r.stderr
    k("annotate", "cm", "l2", "note=ho", "--overwrite", "-n", ns)
    k("annotate", "cm", "--all", "q=1", "-n", ns)
    cms = {c["metadata"]["name"]: c["metadata"] for c in _json(k, "get", "cm", "l1", "l2", "l3", "-n", ns)["items"]}
    assert cms["l1"]["labels"] == {"b": "1", "z": "9", "y": "8"}
    assert cms["l2"]["labels"] == {"z": "9"} and cms["l2"]["annotations"] == {"note": "ho", "q": "1"}
    assert cms["l3"]["annotations"] == {"q": "1"}


# ------------------------------------------------------------------------------ scale / rollout / wait


def test_scale_every_scalable_kind(kubectl133: Kubectl, workloads: str) -> None:
    k, ns = kubectl133, workloads
    for obj in ("deploy/web", "rs/rs1", "sts/sts1", "rc/rc1"):
        assert "scaled" in k("scale", obj, "--replicas=3", "-n", ns)
    assert "scaled" in k("scale", "deploy/web", "--current-replicas=3", "--replicas=4", "-n", ns)
    r = k.run("scale", "deploy/web", "--current-replicas=1", "--replicas=5", "-n", ns, check=False)
    assert r.returncode == 1 and "Expected replicas to be 1, was 4" in r.stderr
    k("scale", "deploy,rs", "--all", "--replicas=1", "-n", ns)
    reps = {o["metadata"]["name"]: o["spec"]["replicas"]
            for o in _json(k, "get", "deploy,rs,sts,rc", "-n", ns)["items"]}
    assert reps == {"web": 1, "rs1": 1, "sts1": 3, "rc1": 3}
    r = k.run("scale", "ds/ds1", "--replicas=2", "-n", ns, check=False)
    assert r.returncode == 1 and "NotFound" in r.stderr


def test_rollout_history_undo_pause_resume_restart(kubectl133: Kubectl, workloads: str, tmp_path: Path) -> None:
    k, ns = kubectl133, workloads
    uid = k("get", "deploy", "web", "-n", ns, "-o", "jsonpath={.metadata.uid}")
    _owned_replicasets(k, ns, uid, tmp_path)
    hist = k("rollout", "history", "deploy/web", "-n", ns)
    assert re.search(r"REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>", hist)
    assert "nginx:1.21" in k("rollout", "history", "deploy/web", "--revision=1", "-n", ns)
    assert "rolled back" in k("rollout", "undo", "deploy/web", "--to-revision=1", "-n", ns)
    image = "jsonpath={.spec.template.spec.containers[0].image}"
    assert k("get", "deploy", "web", "-n", ns, "-o", image) == "nginx:1.21"
    labels = _json(k, "get", "deploy", "web", "-n", ns)["spec"]["template"]["metadata"]["labels"]
    assert labels == {"app": "web"}  # pod-template-hash is not copied back
    assert "paused" in k("rollout", "pause", "deploy/web", "-n", ns)
    r = k.run("rollout", "pause", "deploy/web", "-n", ns, check=False)
    assert 'deployments.apps "web" is already paused' in r.stderr
    r = k.run("rollout", "undo", "deploy/web", "-n", ns, check=False)
    assert r.returncode == 1 and "paused" in r.stderr
    assert "resumed" in k("rollout", "resume", "deploy/web", "-n", ns)
    assert "restarted" in k("rollout", "restart", "deploy/web", "sts/sts1", "ds/ds1", "-n", ns)
    ann = _json(k, "get", "deploy", "web", "-n", ns)["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in ann
    r = k.run("rollout", "status", "deploy/web", "-n", ns, "--timeout=1s", check=False)
    assert r.returncode == 1 and "Waiting for deployment" in r.stdout


def test_rollout_undo_daemonset_from_controller_revision(kubectl133: Kubectl, workloads: str,
                                                          tmp_path: Path) -> None:
    k, ns = kubectl133, workloads
    uid = k("get", "ds", "ds1", "-n", ns, "-o", "jsonpath={.metadata.uid}")
    f = tmp_path / "cr.yaml"
    f.write_text(f"""\
apiVersion: apps/v1
kind: ControllerRevision
metadata:
  name: ds1-abc
  namespace: {ns}
  labels: {{app: ds1}}
  ownerReferences: [{{apiVersion: apps/v1, kind: DaemonSet, name: ds1, uid: {uid}, controller: true}}]
revision: 1
data:
  spec:
    template:
      $patch: replace
      metadata: {{labels: {{app: ds1}}}}
      spec: {{containers: [{{name: c, image: "busybox:old"}}]}}
""")
    k("apply", "-f", str(f))
    assert re.search(r"\n1\s+<none>", k("rollout", "history", "ds/ds1", "-n", ns))
    k("rollout", "undo", "ds/ds1", "--to-revision=1", "-n", ns)
    assert k("get", "ds", "ds1", "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0].image}") == "busybox:old"


def test_wait_for_condition_jsonpath_and_delete(kubectl133: Kubectl, namespace: str) -> None:
    k, ns = kubectl133, namespace
    k("create", "deployment", "w", "--image=nginx", "--replicas=2", "-n", ns)
    r = k.run("wait", "--for=condition=Available", "deploy/w", "--timeout=1s", "-n", ns, check=False)
    assert r.returncode == 1 and "timed out waiting for the condition" in r.stderr
    p = _popen(k, "wait", "--for=condition=Available", "deploy/w", "--timeout=20s", "-n", ns)
    time.sleep(0.6)
    k("patch", "deploy", "w", "-n", ns, "--subresource=status", "--type=merge", "-p",
      '{"status":{"observedGeneration":1,"conditions":[{"type":"Available","status":"True","reason":"R",'
      '"message":"m","lastUpdateTime":"2024-01-01T00:00:00Z","lastTransitionTime":"2024-01-01T00:00:00Z"}]}}')
    out, _ = p.communicate(timeout=20)
    assert p.returncode == 0 and "condition met" in out
    assert "condition met" in k("wait", "--for=jsonpath={.spec.replicas}=2", "deploy/w", "--timeout=5s", "-n", ns)
    k("create", "configmap", "gone", "-n", ns)
    p = _popen(k, "wait", "--for=delete", "cm/gone", "--timeout=20s", "-n", ns)
    time.sleep(0.6)
    k("delete", "cm", "gone", "-n", ns)
    out, _ = p.communicate(timeout=20)
    assert p.returncode == 0 and "condition met" in out
    assert k.run("wait", "--for=delete", "cm/never", "--timeout=2s", "-n", ns, check=False).returncode == 0


# ----------------------------------------------------------------------------------------- delete


def test_delete_variants(kubectl133: Kubectl, namespace: str) -> None:
    k, ns = kubectl133, namespace
    for n in ("d1", "d2", "d3", "d4", "d5"):
        k("create", "configmap", n, "-n", ns)
    k("label", "cm", "d3", "d4", "grp=x", "-n", ns)
    assert 'configmap "d1" deleted' in k("delete", "cm", "d1", "--grace-period=5", "-n", ns)
    assert 'configmap "d2" deleted' in k("delete", "cm", "d2", "--now", "-n", ns)
    out = k("delete", "cm", "-l", "grp=x", "-n", ns)
    assert 'configmap "d3" deleted' in out and 'configmap "d4" deleted' in out
    r = k.run("delete", "cm", "-l", "grp=nope", "-n", ns)
    assert "No resources found" in r.stdout + r.stderr
    k("create", "deployment", "fg", "--image=nginx", "-n", ns)
    k("create", "deployment", "orph", "--image=nginx", "-n", ns)
    k("create", "deployment", "bg", "--image=nginx", "-n", ns)
    for name, cascade in (("fg", "foreground"), ("orph", "orphan"), ("bg", "background")):
        out = k("delete", "deploy", name, f"--cascade={cascade}", "--wait=false", "-n", ns)
        assert f'deployment.apps "{name}" deleted' in out
    # Without a garbage collector the finalizers keep the object, as upstream.
    for name, finalizer in (("fg", "foregroundDeletion"), ("orph", "orphan")):
        meta = _json(k, "get", "deploy", name, "-n", ns)["metadata"]
        assert meta["finalizers"] == [finalizer] and meta["deletionTimestamp"]
    assert k.run("get", "deploy", "bg", "-n", ns, check=False).returncode == 1
    k("run", "unbound", "--image=nginx", "-n", ns)
    assert 'pod "unbound" deleted' in k("delete", "pod", "unbound", "--timeout=10s", "-n", ns)
    k("delete", "cm", "--all", "-n", ns)
    assert k("get", "cm", "-n", ns, "-o", "name").split() in ([], ["configmap/kube-root-ca.crt"])


def test_delete_pods_on_a_node(kubectl133: Kubectl, namespace: str) -> None:
    """Bound pods are deleted gracefully and wait for a kubelet; --force --grace-period=0 removes them."""
    k, ns = kubectl133, namespace
    node = f"n-{_sfx()}"
    k("create", "-f", "-", input=f'{{"apiVersion":"v1","kind":"Node","metadata":{{"name":"{node}"}}}}')
    for p in ("b1", "b2", "b3"):
        k("run", p, "--image=nginx", f'--overrides={{"spec":{{"nodeName":"{node}"}}}}', "-n", ns)
    k("delete", "pod", "b1", "--wait=false", "-n", ns)
    meta = _json(k, "get", "pod", "b1", "-n", ns)["metadata"]
    assert meta["deletionGracePeriodSeconds"] == 30 and meta["deletionTimestamp"]
    assert "Terminating" in k("get", "pod", "b1", "-n", ns)
    k("delete", "pod", "b2", "--now", "--wait=false", "-n", ns)
    assert _json(k, "get", "pod", "b2", "-n", ns)["metadata"]["deletionGracePeriodSeconds"] == 1
    r = k.run("delete", "pod", "b3", "--force", "--grace-period=0", "-n", ns)
    assert 'pod "b3" force deleted' in r.stdout and "Immediate deletion does not wait" in r.stderr
    assert k.run("get", "pod", "b3", "-n", ns, check=False).returncode == 1
    r = k.run("delete", "pod", "b1", "--timeout=1s", "-n", ns, check=False)
    assert r.returncode == 1 and "timed out waiting" in r.stderr
    k("delete", "pod", "b1", "b2", "--force", "--grace-period=0", "-n", ns)
    k("delete", "node", node)


# -------------------------------------------------------------------------------- nodes and drain


def test_cordon_uncordon_taint(kubectl133: Kubectl) -> None:
    k = kubectl133
    node = f"n-{_sfx()}"
    k("create", "-f", "-", input=f'{{"apiVersion":"v1","kind":"Node","metadata":{{"name":"{node}"}}}}')
    assert "cordoned" in k("cordon", node)
    assert "already cordoned" in k("cordon", node)
    assert _json(k, "get", "node", node)["spec"]["unschedulable"] is True
    assert "uncordoned" in k("uncordon", node)
    assert "unschedulable" not in _json(k, "get", "node", node)["spec"]
    assert "tainted" in k("taint", "node", node, "key1=v1:NoSchedule")
    r = k.run("taint", "node", node, "key1=v2:NoSchedule", check=False)
    assert r.returncode == 1 and "already has key1 taint(s)" in r.stderr
    assert "modified" in k("taint", "node", node, "key1=v2:NoSchedule", "--overwrite")
    assert _json(k, "get", "node", node)["spec"]["taints"] == [{"key": "key1", "value": "v2", "effect": "NoSchedule"}]
    assert "untainted" in k("taint", "node", node, "key1:NoSchedule-")
    r = k.run("taint", "node", node, "key1:NoSchedule-", check=False)
    assert r.returncode == 1 and 'taint "key1:NoSchedule" not found' in r.stderr
    k("delete", "node", node)


def test_drain(kubectl133: Kubectl, namespace: str) -> None:
    k, ns = kubectl133, namespace
    node = f"n-{_sfx()}"
    k("create", "-f", "-", input=f'{{"apiVersion":"v1","kind":"Node","metadata":{{"name":"{node}"}}}}')
    for p in ("e1", "e2"):
        k("run", p, "--image=nginx", f'--overrides={{"spec":{{"nodeName":"{node}"}}}}', "-n", ns)
    r = k.run("drain", node, "--timeout=5s", check=False)
    assert r.returncode == 1 and "cannot delete Pods that declare no controller" in r.stderr
    assert _json(k, "get", "node", node)["spec"]["unschedulable"] is True
    # Evicted pods are deleted gracefully and stay Terminating without a kubelet: drain times out.
    r = k.run("drain", node, "--force", "--timeout=1s", check=False)
    assert "evicting pod" in r.stdout + r.stderr
    assert all(_json(k, "get", "pod", p, "-n", ns)["metadata"].get("deletionTimestamp") for p in ("e1", "e2"))
    r = k.run("drain", node, "--force", "--disable-eviction", "--grace-period=0", "--timeout=10s")
    assert "node/" + node + " drained" in r.stdout
    assert k("get", "pods", "-n", ns, "-o", "name") == ""
    k("delete", "node", node)


def test_eviction_of_a_pending_pod_ignores_its_pdb(kubectl133: Kubectl, namespace: str) -> None:
    k, ns = kubectl133, namespace
    node = f"n-{_sfx()}"
    k("create", "-f", "-", input=f'{{"apiVersion":"v1","kind":"Node","metadata":{{"name":"{node}"}}}}')
    k("run", "guarded", "--image=nginx", "--labels=app=guarded", f'--overrides={{"spec":{{"nodeName":"{node}"}}}}',
      "-n", ns)
    k("create", "pdb", "guard", "--selector=app=guarded", "--min-available=1", "-n", ns)
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "guarded", "namespace": ns}}
    r = k.run("create", "--raw", f"/api/v1/namespaces/{ns}/pods/guarded/eviction", "-f", "-",
              input=json.dumps(eviction), check=False)
    assert r.returncode == 0, r.stderr  # today: 429 "Cannot evict pod as it would violate the pod's disruption budget."
    assert _json(k, "get", "pod", "guarded", "-n", ns)["metadata"].get("deletionTimestamp")


# -------------------------------------------------------------------------------- auth, certificates


def test_auth_can_i_and_whoami(kubectl: Kubectl) -> None:
    k = kubectl
    assert k("auth", "can-i", "create", "pods").strip() == "yes"
    assert k("auth", "can-i", "get", "/healthz").strip() == "yes"
    assert k("auth", "can-i", "create", "pods", "--subresource=eviction").strip() == "yes"
    lst = k("auth", "can-i", "--list").splitlines()
    assert lst[0].split() == ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"]
    if k.version != "1.27":  # 1.27 asks v1beta1 SelfSubjectReview, which 1.33 no longer serves either
        who = k("auth", "whoami").splitlines()
        assert who[0].split() == ["ATTRIBUTE", "VALUE"] and who[1].split() == ["Username", "system:admin"]
    else:
        r = k.run("auth", "whoami", check=False)
        assert r.returncode == 1 and "selfsubjectreviews API is not enabled" in r.stderr


def test_impersonation(kubectl133: Kubectl) -> None:
    out = kubectl133("auth", "whoami", "--as=alice", "--as-group=devs", "-o", "json")
    info = json.loads(out)["status"]["userInfo"]
    assert info["username"] == "alice" and info["groups"] == ["devs", "system:authenticated"]


def test_certificate_approve_and_deny(kubectl133: Kubectl, tmp_path: Path) -> None:
    k = kubectl133
    names = [f"csr-{_sfx()}" for _ in range(2)]
    f = tmp_path / "csr.yaml"
    f.write_text("---\n".join(
        f"apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata: {{name: {n}}}\n"
        f"spec: {{request: {CSR_PEM_B64}, signerName: kubernetes.io/kube-apiserver-client, "
        f"expirationSeconds: 86400, usages: [client auth]}}\n" for n in names))
    k("create", "-f", str(f))
    assert "approved" in k("certificate", "approve", names[0])
    assert "denied" in k("certificate", "deny", names[1])
    r = k.run("certificate", "deny", names[0], check=False)
    assert r.returncode == 1 and "is already Approved" in r.stderr
    rows = {line.split()[0]: line.split() for line in k("get", "csr", *names, "--no-headers").splitlines()}
    assert rows[names[0]][-1] == "Approved" and rows[names[1]][-1] == "Denied"
    assert rows[names[0]][3:5] == ["system:admin", "24h"]
    csr = _json(k, "get", "csr", names[0])
    assert csr["spec"]["username"] == "system:admin" and "system:masters" in csr["spec"]["groups"]
    assert csr["status"]["conditions"][0]["reason"] == "KubectlApprove"


def test_certificate_condition_timestamps(kubectl133: Kubectl, tmp_path: Path) -> None:
    n = f"csr-{_sfx()}"
    kubectl133("create", "-f", "-", input=json.dumps({
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": n},
        "spec": {"request": CSR_PEM_B64, "signerName": "kubernetes.io/kube-apiserver-client",
                 "usages": ["client auth"]}}))
    kubectl133("certificate", "approve", n)
    assert _json(kubectl133, "get", "csr", n)["status"]["conditions"][0].get("lastTransitionTime")


# ------------------------------------------------------------------------------- discovery & misc


def test_api_resources_and_versions(kubectl: Kubectl) -> None:
    k = kubectl
    wide = k("api-resources", "-o", "wide").splitlines()
    assert wide[0].split() == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND", "VERBS", "CATEGORIES"]
    pods = next(line.split() for line in wide if line.startswith("pods "))
    assert pods == ["pods", "po", "v1", "true", "Pod", "create,delete,deletecollection,get,list,patch,update,watch",
                    "all"]
    cluster = k("api-resources", "--namespaced=false", "-o", "name").split()
    assert "nodes" in cluster and "namespaces" in cluster and "pods" not in cluster
    apps = [line.split()[0] for line in k("api-resources", "--api-group=apps").splitlines()[1:]]
    assert apps == ["controllerrevisions", "daemonsets", "deployments", "replicasets", "statefulsets"]
    versions = k("api-versions").split()
    for gv in ("v1", "apps/v1", "batch/v1", "autoscaling/v2", "policy/v1", "rbac.authorization.k8s.io/v1"):
        assert gv in versions


def test_selfsubjectrulesreviews_is_cluster_scoped(kubectl133: Kubectl) -> None:
    cluster = kubectl133("api-resources", "--namespaced=false", "-o", "name").split()
    assert "selfsubjectrulesreviews.authorization.k8s.io" in cluster


def test_autoscale_with_kubectl_127(kubectl127: Kubectl, namespace: str) -> None:
    kubectl127("create", "deployment", "d", "--image=nginx", "-n", namespace)
    assert "autoscaled" in kubectl127("autoscale", "deploy", "d", "--max=3", "-n", namespace)


def test_autoscale_with_kubectl_133_defaults(kubectl133: Kubectl, namespace: str) -> None:
    kubectl133("create", "deployment", "d", "--image=nginx", "-n", namespace)
    kubectl133("autoscale", "deploy", "d", "--max=3", "-n", namespace)
    row = kubectl133("get", "hpa", "d", "-n", namespace, "--no-headers").split()
    assert row[1:6] == ["Deployment/d", "cpu:", "<unknown>/80%", "1", "3"]


@pytest.mark.xfail(strict=True, reason="customresourcedefinitions (apiextensions.k8s.io) and other built-in "
                   "groups (admissionregistration, apiregistration, flowcontrol, node, storage CSI kinds) are not served")
def test_crds_are_served(kubectl133: Kubectl) -> None:
    assert kubectl133.run("get", "crd").returncode == 0


def test_explain(kubectl: Kubectl) -> None:
    k = kubectl
    out = k("explain", "pods.spec.containers.resources")
    assert "KIND:       Pod" in out and "FIELD: resources <ResourceRequirements>" in out and "limits" in out
    out = k("explain", "deployment.spec.strategy")
    assert "GROUP:      apps" in out and "rollingUpdate\t<RollingUpdateDeployment>" in out
    rec = k("explain", "svc", "--recursive")
    assert "externalTrafficPolicy\t<string>" in rec and "ipFamilies\t<[]string>" in rec
    assert "target\t<MetricTarget>" in k("explain", "hpa.spec.metrics.resource")
    r = k.run("explain", "pods.spec.nope", check=False)
    assert r.returncode == 1 and 'field "nope" does not exist' in r.stderr


def test_version_cluster_info_and_raw_endpoints(kubectl133: Kubectl) -> None:
    k = kubectl133
    ver = json.loads(k("version", "-o", "json"))["serverVersion"]
    assert ver["major"] == "1" and ver["minor"] == "33" and ver["gitVersion"].startswith("v1.33.")
    assert "Kubernetes control plane" in k("cluster-info")
    assert k("get", "--raw", "/healthz") == "ok"
    assert k("get", "--raw", "/healthz?verbose").strip().endswith("healthz check passed")
    assert k("get", "--raw", "/livez?verbose").strip().endswith("livez check passed")
    assert json.loads(k("get", "--raw", "/api"))["versions"] == ["v1"]
    groups = {g["name"] for g in json.loads(k("get", "--raw", "/apis"))["groups"]}
    assert {"apps", "batch", "policy"} <= groups
    paths = json.loads(k("get", "--raw", "/openapi/v3"))["paths"]
    assert "api/v1" in paths and "apis/apps/v1" in paths
    assert "apiserver_request_total" in k("get", "--raw", "/metrics")


def test_unknown_health_check_is_not_found(kubectl133: Kubectl) -> None:
    assert kubectl133.run("get", "--raw", "/readyz/nope", check=False).returncode == 1


def test_kubectl_events(kubectl133: Kubectl, everything: tuple[str, str]) -> None:
    ns, _ = everything
    out = kubectl133("events", "-n", ns).splitlines()
    assert out[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert any("Testing" in line and "Pod/p1" in line for line in out)
    assert "hello event" in kubectl133("events", "-n", ns, "--for", "pod/p1")
    assert "hello event" in kubectl133("events", "-A")


def test_events_api_groups_share_storage(kubectl133: Kubectl, everything: tuple[str, str]) -> None:
    ns, _ = everything
    core = kubectl133("get", "events", "-n", ns, "-o", "name").split()
    assert "event/ev2" in core
    assert "a new-style event" in kubectl133("events", "-n", ns)


# ------------------------------------------------------------------------- namespaces & bootstrap


def test_namespace_terminating_refuses_new_objects(kubectl133: Kubectl) -> None:
    k = kubectl133
    ns = f"term-{_sfx()}"
    k("create", "ns", ns)
    k("create", "configmap", "x", "-n", ns)
    k("delete", "ns", ns, "--wait=false")
    assert k("get", "ns", ns, "--no-headers").split()[1] == "Terminating"
    r = k.run("create", "configmap", "y", "-n", ns, check=False)
    assert r.returncode == 1 and "because it is being terminated" in r.stderr
    r = k.run("create", "configmap", "y", "-n", f"nonexist-{_sfx()}", check=False)
    assert r.returncode == 1 and "not found" in r.stderr


def test_immortal_namespaces(kubectl133: Kubectl) -> None:
    for ns in ("default", "kube-system", "kube-public"):
        r = kubectl133.run("delete", "ns", ns, "--dry-run=server", check=False)
        assert r.returncode == 1 and "this namespace may not be deleted" in r.stderr, ns


def test_kubernetes_service_exists(kubectl133: Kubectl) -> None:
    assert kubectl133("get", "svc", "kubernetes", "-n", "default", "-o", "jsonpath={.spec.clusterIP}") == "10.96.0.1"


def test_system_priority_classes_exist(kubectl133: Kubectl) -> None:
    out = kubectl133("get", "pc", "system-node-critical", "system-cluster-critical", "--no-headers")
    assert [line.split()[1] for line in out.splitlines()] == ["2000001000", "2000000000"]


def test_bootstrap_cluster_roles_exist(kubectl133: Kubectl) -> None:
    kubectl133("get", "clusterrole", "cluster-admin", "admin", "edit", "view")
    kubectl133("get", "clusterrolebinding", "cluster-admin")


# ------------------------------------------------------------------------------------- defaults


def test_new_persistent_volume_is_pending(kubectl133: Kubectl) -> None:
    n = f"pv-{_sfx()}"
    kubectl133("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": n},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp"}}}))
    st = _json(kubectl133, "get", "pv", n)["status"]
    assert st["phase"] == "Pending" and st.get("lastPhaseTransitionTime")


def test_pods_get_default_tolerations(kubectl133: Kubectl, namespace: str) -> None:
    kubectl133("run", "tol", "--image=nginx", "-n", namespace)
    keys = {t["key"]: t.get("tolerationSeconds") for t in
            _json(kubectl133, "get", "pod", "tol", "-n", namespace)["spec"].get("tolerations", [])}
    assert keys == {"node.kubernetes.io/not-ready": 300, "node.kubernetes.io/unreachable": 300}


def test_job_labels_default_from_template(kubectl133: Kubectl, namespace: str) -> None:
    kubectl133("create", "job", "jl", "--image=busybox", "-n", namespace)
    labels = _json(kubectl133, "get", "job", "jl", "-n", namespace)["metadata"].get("labels") or {}
    assert labels.get("batch.kubernetes.io/job-name") == "jl" and labels.get("job-name") == "jl"


def test_node_pod_cidrs_follow_pod_cidr(kubectl133: Kubectl) -> None:
    n = f"n-{_sfx()}"
    kubectl133("create", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": n}, "spec": {"podCIDR": "10.42.9.0/24"}}))
    assert _json(kubectl133, "get", "node", n)["spec"].get("podCIDRs") == ["10.42.9.0/24"]


def test_pdb_status_counters(kubectl133: Kubectl, namespace: str) -> None:
    kubectl133("create", "pdb", "p", "--selector=app=x", "--min-available=1", "-n", namespace)
    st = _json(kubectl133, "get", "pdb", "p", "-n", namespace)["status"]
    assert st == {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0}


def test_api_warnings(kubectl133: Kubectl, namespace: str) -> None:
    r = kubectl133.run("create", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "e", "namespace": namespace}}))
    assert ENDPOINTS_WARNING in r.stderr
    r = kubectl133.run("create", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "w", "namespace": namespace},
         "spec": {"nodeSelector": {"beta.kubernetes.io/arch": "amd64"},
                  "containers": [{"name": "c", "image": "nginx"}]}}))
    assert "Warning: spec.nodeSelector[beta.kubernetes.io/arch]: deprecated since v1.14" in r.stderr
    # A Deployment whose two containers listen on one port: kubectl prints upstream's warning.
    r = kubectl133.run("create", "-f", "-", input=json.dumps(
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ports", "namespace": namespace},
         "spec": {"selector": {"matchLabels": {"app": "p"}}, "template": {
             "metadata": {"labels": {"app": "p"}},
             "spec": {"containers": [{"name": "a", "image": "nginx", "ports": [{"containerPort": 80}]},
                                     {"name": "b", "image": "nginx", "ports": [{"containerPort": 80}]}]}}}}))
    assert ("Warning: spec.template.spec.containers[1].ports[0]: duplicate port definition with "
            "spec.template.spec.containers[0].ports[0]") in r.stderr, r.stderr


def test_kubectl_debug_adds_an_ephemeral_container(kubectl133: Kubectl, namespace: str) -> None:
    kubectl133("run", "dbg", "--image=nginx", "-n", namespace)
    kubectl133("debug", "dbg", "--image=busybox", "--profile=general", "-n", namespace, "--", "true")
    eph = _json(kubectl133, "get", "pod", "dbg", "-n", namespace)["spec"].get("ephemeralContainers") or []
    assert eph and eph[0]["image"] == "busybox"


def test_create_token(kubectl133: Kubectl, namespace: str) -> None:
    kubectl133("create", "serviceaccount", "sa", "-n", namespace)
    assert kubectl133("create", "token", "sa", "-n", namespace).count(".") == 2


def test_service_type_change_to_external_name_drops_ip_fields(kubectl133: Kubectl, namespace: str) -> None:
    kubectl133("create", "service", "clusterip", "sv", "--tcp=80", "-n", namespace)
    kubectl133("patch", "svc", "sv", "-n", namespace, "--type=merge", "-p",
               '{"spec":{"type":"ExternalName","externalName":"foo.com"}}')
    spec = _json(kubectl133, "get", "svc", "sv", "-n", namespace)["spec"]
    assert "clusterIP" not in spec
    assert not {"ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy"} & set(spec)

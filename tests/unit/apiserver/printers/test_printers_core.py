"""Cells for core objects, compared with what ``kubectl get`` prints against a real cluster."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from navarch.api.resources import REGISTRY
from navarch.apiserver.printers import columns_for, row_cells
from navarch.apiserver.printers.core import pod_conditions

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
CREATED = "2024-05-01T11:00:00Z"  # 60m before NOW


def ago(seconds: int) -> str:
    return datetime.fromtimestamp(NOW.timestamp() - seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cells(plural: str, obj: dict[str, Any], group: str = "", version: str = "v1") -> list[Any]:
    resource = REGISTRY.get(group, version, plural)
    assert resource is not None
    out = row_cells(resource, obj, NOW)
    assert len(out) == len(columns_for(resource))
    return out


def shown(plural: str, obj: dict[str, Any], group: str = "", version: str = "v1") -> dict[str, Any]:
    """Cells keyed by upper-cased column name, as kubectl's header reads."""
    resource = REGISTRY.get(group, version, plural)
    assert resource is not None
    names = [c["name"].upper() for c in columns_for(resource)]
    return dict(zip(names, row_cells(resource, obj, NOW), strict=True))


# --- pods -----------------------------------------------------------------------------------------

def running(ready: bool = True, restarts: int = 0, last_finished: str | None = None) -> dict[str, Any]:
    cs: dict[str, Any] = {"name": "c", "ready": ready, "restartCount": restarts, "started": True,
                          "state": {"running": {"startedAt": CREATED}}}
    if last_finished:
        cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": last_finished}}
    return cs


def waiting(reason: str, restarts: int = 0, last_finished: str | None = None) -> dict[str, Any]:
    cs: dict[str, Any] = {"name": "c", "ready": False, "restartCount": restarts,
                          "state": {"waiting": {"reason": reason}}}
    if last_finished:
        cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": last_finished}}
    return cs


def terminated(reason: str = "", exit_code: int = 0, signal: int = 0) -> dict[str, Any]:
    term: dict[str, Any] = {"exitCode": exit_code}
    if reason:
        term["reason"] = reason
    if signal:
        term["signal"] = signal
    return {"name": "c", "ready": False, "restartCount": 0, "state": {"terminated": term}}


def make_pod(name: str = "web", *, statuses: list[dict[str, Any]] | None = None, n_containers: int | None = None,
             phase: str = "Running", init: list[dict[str, Any]] | None = None,
             init_statuses: list[dict[str, Any]] | None = None, conditions: list[dict[str, Any]] | None = None,
             deleting: bool = False, reason: str | None = None, node: str = "node-1",
             ip: str | None = "10.42.0.7", **spec: Any) -> dict[str, Any]:
    statuses = statuses if statuses is not None else [running()]
    n = n_containers if n_containers is not None else max(len(statuses), 1)
    status: dict[str, Any] = {"phase": phase, "containerStatuses": statuses}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    if conditions is not None:
        status["conditions"] = conditions
    if reason:
        status["reason"] = reason
    meta: dict[str, Any] = {"name": name, "namespace": "default", "creationTimestamp": CREATED}
    if deleting:
        meta["deletionTimestamp"] = ago(5)
    pod_spec: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": "nginx"} for i in range(n)], **spec}
    if node:
        pod_spec["nodeName"] = node
    if init is not None:
        pod_spec["initContainers"] = init
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec, "status": status}


READY_TRUE = [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}]


def test_pod_two_ready_containers_three_restarts() -> None:
    pod = make_pod(statuses=[running(restarts=1, last_finished=ago(600)), running(restarts=2, last_finished=ago(300))],
                   conditions=READY_TRUE)
    # kubectl: web   2/2   Running   3 (5m ago)   60m   10.42.0.7   node-1   <none>   <none>
    assert cells("pods", pod) == ["web", "2/2", "Running", "3 (5m ago)", "60m",
                                  "10.42.0.7", "node-1", "<none>", "<none>"]


def test_pod_crashloop() -> None:
    pod = make_pod(statuses=[waiting("CrashLoopBackOff", restarts=4, last_finished=ago(75))])
    row = shown("pods", pod)
    assert (row["READY"], row["STATUS"], row["RESTARTS"]) == ("0/1", "CrashLoopBackOff", "4 (75s ago)")


def test_pod_restarts_without_termination_time_have_no_suffix() -> None:
    assert shown("pods", make_pod(statuses=[running(restarts=2)]))["RESTARTS"] == "2"


def test_pod_terminating() -> None:
    assert shown("pods", make_pod(deleting=True))["STATUS"] == "Terminating"


def test_finished_pod_being_deleted_keeps_its_status() -> None:
    pod = make_pod(phase="Succeeded", statuses=[terminated("Completed")], deleting=True)
    assert shown("pods", pod)["STATUS"] == "Completed"


def test_pod_on_lost_node() -> None:
    assert shown("pods", make_pod(reason="NodeLost"))["STATUS"] == "NodeLost"
    assert shown("pods", make_pod(reason="NodeLost", deleting=True))["STATUS"] == "Unknown"


def test_pod_pending_container_creating() -> None:
    pod = make_pod(phase="Pending", statuses=[waiting("ContainerCreating")], ip=None)
    row = shown("pods", pod)
    assert (row["READY"], row["STATUS"], row["IP"]) == ("0/1", "ContainerCreating", "<none>")


def test_pod_unscheduled_pending() -> None:
    pod = make_pod(phase="Pending", statuses=[], n_containers=1, node="", ip=None)
    row = shown("pods", pod)
    assert (row["READY"], row["STATUS"], row["NODE"]) == ("0/1", "Pending", "<none>")


def test_pod_scheduling_gated() -> None:
    pod = make_pod(phase="Pending", statuses=[], n_containers=1, node="", ip=None,
                   conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}])
    assert shown("pods", pod)["STATUS"] == "SchedulingGated"


@pytest.mark.parametrize(("state", "want"), [
    (terminated("Completed"), "Completed"),
    (terminated("OOMKilled", 137), "OOMKilled"),
    (terminated("", 3), "ExitCode:3"),
    (terminated("", 0, signal=9), "Signal:9"),
    (waiting("ImagePullBackOff"), "ImagePullBackOff"),
    (waiting("ErrImagePull"), "ErrImagePull"),
], ids=["completed", "oomkilled", "exitcode", "signal", "imagepullbackoff", "errimagepull"])
def test_pod_container_state_reasons(state: dict[str, Any], want: str) -> None:
    assert shown("pods", make_pod(statuses=[state]))["STATUS"] == want


def test_completed_container_next_to_running_one_reads_running() -> None:
    pod = make_pod(statuses=[terminated("Completed"), running()], conditions=READY_TRUE)
    assert shown("pods", pod)["STATUS"] == "Running"
    pod = make_pod(statuses=[terminated("Completed"), running()], conditions=[{"type": "Ready", "status": "False"}])
    assert shown("pods", pod)["STATUS"] == "NotReady"


def test_first_container_decides_the_reason() -> None:
    # Statuses are walked backwards, so the first container's state wins.
    pod = make_pod(statuses=[waiting("CrashLoopBackOff"), waiting("ImagePullBackOff")])
    assert shown("pods", pod)["STATUS"] == "CrashLoopBackOff"


INIT = [{"name": "init", "image": "busybox"}]


@pytest.mark.parametrize(("init_status", "want"), [
    ({"name": "init", "restartCount": 0, "state": {"running": {}}}, "Init:0/1"),
    ({"name": "init", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}, "Init:0/1"),
    ({"name": "init", "restartCount": 2, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}, "Init:Error"),
    ({"name": "init", "restartCount": 0, "state": {"terminated": {"exitCode": 2}}}, "Init:ExitCode:2"),
    ({"name": "init", "restartCount": 0, "state": {"terminated": {"exitCode": 1, "signal": 15}}}, "Init:Signal:15"),
    ({"name": "init", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
     "Init:CrashLoopBackOff"),
], ids=["running", "podinitializing", "error", "exitcode", "signal", "crashloop"])
def test_pod_init_container_states(init_status: dict[str, Any], want: str) -> None:
    pod = make_pod(phase="Pending", init=INIT, init_statuses=[init_status],
                   statuses=[waiting("PodInitializing")])
    row = shown("pods", pod)
    assert row["STATUS"] == want
    assert row["READY"] == "0/1"
    assert row["RESTARTS"] == str(init_status["restartCount"])


def test_pod_second_init_container_running() -> None:
    init = [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}]
    statuses = [{"name": "a", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "b", "restartCount": 0, "state": {"running": {}}}]
    pod = make_pod(phase="Pending", init=init, init_statuses=statuses, statuses=[waiting("PodInitializing")])
    assert shown("pods", pod)["STATUS"] == "Init:1/2"


def test_pod_with_started_sidecar_counts_it_ready() -> None:
    init = [{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}]
    init_statuses = [{"name": "proxy", "restartCount": 1, "started": True, "ready": True,
                      "state": {"running": {}},
                      "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(30)}}}]
    pod = make_pod(init=init, init_statuses=init_statuses, statuses=[running()], conditions=READY_TRUE)
    row = shown("pods", pod)
    assert (row["READY"], row["STATUS"], row["RESTARTS"]) == ("2/2", "Running", "1 (30s ago)")


def test_pod_wide_columns() -> None:
    pod = make_pod(readinessGates=[{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}],
                   conditions=[*READY_TRUE, {"type": "example.com/lb", "status": "True"}])
    pod["status"]["nominatedNodeName"] = "node-2"
    row = shown("pods", pod)
    assert (row["NOMINATED NODE"], row["READINESS GATES"]) == ("node-2", "1/2")


def test_pod_row_conditions_mark_finished_pods() -> None:
    assert pod_conditions(make_pod(phase="Succeeded"))[0]["reason"] == "Succeeded"  # type: ignore[index]
    assert pod_conditions(make_pod(phase="Failed"))[0]["reason"] == "Failed"  # type: ignore[index]
    assert pod_conditions(make_pod()) is None


def test_pod_columns() -> None:
    cols = columns_for(REGISTRY.get("", "v1", "pods"))  # type: ignore[arg-type]
    assert [c["name"] for c in cols] == ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node",
                                         "Nominated Node", "Readiness Gates"]
    assert [c["priority"] for c in cols] == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert cols[0]["format"] == "name"


# --- nodes ----------------------------------------------------------------------------------------

def make_node(ready: str | None = "True", unschedulable: bool = False,
              labels: dict[str, str] | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {
        "metadata": {"name": "node-1", "creationTimestamp": ago(3 * 86400 + 7200), "labels": labels or {}},
        "spec": {"unschedulable": unschedulable} if unschedulable else {},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}, {"type": "Hostname", "address": "node-1"}],
            "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Ubuntu 24.04 LTS",
                         "kernelVersion": "6.8.0-31-generic",
                         "containerRuntimeVersion": "containerd://1.7.12"},
            "conditions": [{"type": "MemoryPressure", "status": "False"}],
        },
    }
    if ready is not None:
        node["status"]["conditions"].append({"type": "Ready", "status": ready})
    return node


def test_node_ready_control_plane() -> None:
    node = make_node(labels={"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "node-1"})
    assert cells("nodes", node) == ["node-1", "Ready", "control-plane", "3d2h", "v1.33.0", "192.168.1.10", "<none>",
                                    "Ubuntu 24.04 LTS", "6.8.0-31-generic", "containerd://1.7.12"]


@pytest.mark.parametrize(("ready", "unschedulable", "want"), [
    ("False", False, "NotReady"),
    ("Unknown", False, "NotReady"),
    (None, False, "Unknown"),
    ("True", True, "Ready,SchedulingDisabled"),
    ("False", True, "NotReady,SchedulingDisabled"),
], ids=["notready", "unknown-condition", "no-condition", "cordoned", "notready-cordoned"])
def test_node_status(ready: str | None, unschedulable: bool, want: str) -> None:
    assert shown("nodes", make_node(ready, unschedulable))["STATUS"] == want


def test_node_roles() -> None:
    labels = {"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/infra": "x",
              "kubernetes.io/role": "gpu", "node-role.kubernetes.io/": ""}
    assert shown("nodes", make_node(labels=labels))["ROLES"] == "gpu,infra,worker"
    assert shown("nodes", make_node())["ROLES"] == "<none>"


# --- services, endpoints --------------------------------------------------------------------------

def make_svc(stype: str = "ClusterIP", ports: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "creationTimestamp": ago(45)},
            "spec": {"type": stype, "clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
                     "ports": ports if ports is not None else [{"port": 80, "protocol": "TCP"}],
                     "selector": {"app": "web"}, **spec},
            "status": {"loadBalancer": {}}}


def test_service_cluster_ip() -> None:
    assert cells("services", make_svc()) == ["web", "ClusterIP", "10.96.0.20", "<none>", "80/TCP", "45s", "app=web"]


def test_service_node_port() -> None:
    svc = make_svc("NodePort", [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                                {"port": 53, "nodePort": 30053, "protocol": "UDP"}])
    assert shown("services", svc)["PORT(S)"] == "80:30080/TCP,53:30053/UDP"


def test_service_load_balancer() -> None:
    svc = make_svc("LoadBalancer", [{"port": 443, "nodePort": 31443, "protocol": "TCP"}])
    assert shown("services", svc)["EXTERNAL-IP"] == "<pending>"
    svc["status"]["loadBalancer"] = {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "lb.example.com"},
                                                 {"ip": "203.0.113.9"}]}
    assert shown("services", svc)["EXTERNAL-IP"] == "203.0.113.9,lb.example.com"
    svc["spec"]["externalIPs"] = ["198.51.100.1"]
    assert shown("services", svc)["EXTERNAL-IP"] == "203.0.113.9,lb.example.com,198.51.100.1"


def test_service_external_name_and_headless() -> None:
    ext = make_svc("ExternalName", [], externalName="db.example.com", clusterIPs=[], clusterIP="", selector={})
    assert cells("services", ext)[1:5] == ["ExternalName", "<none>", "db.example.com", "<none>"]
    assert shown("services", ext)["SELECTOR"] == "<none>"
    headless = make_svc(clusterIP="None", clusterIPs=["None"])
    assert shown("services", headless)["CLUSTER-IP"] == "None"
    assert shown("services", make_svc(externalIPs=["1.2.3.4"]))["EXTERNAL-IP"] == "1.2.3.4"


def test_endpoints_lists_three_then_more() -> None:
    ep = {"metadata": {"name": "web", "creationTimestamp": CREATED},
          "subsets": [{"addresses": [{"ip": "10.42.0.1"}, {"ip": "10.42.0.2"}],
                       "ports": [{"port": 80}, {"port": 443}]}]}
    assert cells("endpoints", ep) == ["web", "10.42.0.1:80,10.42.0.2:80,10.42.0.1:443 + 1 more...", "60m"]
    ep["subsets"] = [{"addresses": [{"ip": "10.42.0.1"}], "ports": [{"port": 8080}]}]
    assert shown("endpoints", ep)["ENDPOINTS"] == "10.42.0.1:8080"
    ep["subsets"] = [{"addresses": [{"ip": "10.42.0.1"}]}]
    assert shown("endpoints", ep)["ENDPOINTS"] == "10.42.0.1"
    ep["subsets"] = []
    assert shown("endpoints", ep)["ENDPOINTS"] == "<none>"
    ep["subsets"] = [{"notReadyAddresses": [{"ip": "10.42.0.1"}], "ports": [{"port": 80}]}]
    assert shown("endpoints", ep)["ENDPOINTS"] == ""


# --- namespaces, config, identity -----------------------------------------------------------------

def test_simple_core_kinds() -> None:
    meta = {"name": "x", "creationTimestamp": ago(10 * 86400)}
    assert cells("namespaces", {"metadata": meta, "status": {"phase": "Active"}}) == ["x", "Active", "10d"]
    assert cells("configmaps", {"metadata": meta, "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}}) == [
        "x", 3, "10d"]
    tls = {"metadata": meta, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}
    assert cells("secrets", tls) == ["x", "kubernetes.io/tls", 2, "10d"]
    assert cells("serviceaccounts", {"metadata": meta}) == ["x", 0, "10d"]


# --- events ---------------------------------------------------------------------------------------

def test_event_row() -> None:
    ev = {"metadata": {"name": "web.17a", "creationTimestamp": ago(300)},
          "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{c}"},
          "reason": "BackOff", "type": "Warning", "message": "Back-off restarting failed container\n",
          "source": {"component": "kubelet", "host": "node-1"},
          "firstTimestamp": ago(300), "lastTimestamp": ago(20), "count": 7}
    # kubectl: LAST SEEN TYPE REASON OBJECT MESSAGE (+ wide SUBOBJECT SOURCE FIRST SEEN COUNT NAME)
    assert cells("events", ev) == ["20s", "Warning", "BackOff", "pod/web", "spec.containers{c}", "kubelet, node-1",
                                   "Back-off restarting failed container", "5m", 7, "web.17a"]


def test_event_from_new_api_fields() -> None:
    ev = {"metadata": {"name": "e"}, "eventTime": ago(90), "reportingComponent": "default-scheduler",
          "reportingInstance": "", "involvedObject": {"kind": "Node"}, "reason": "Scheduled", "type": "Normal",
          "message": "ok", "source": {}}
    assert cells("events", ev) == ["90s", "Normal", "Scheduled", "node", "", "default-scheduler", "ok", "90s", 1, "e"]
    ev["series"] = {"count": 4, "lastObservedTime": ago(10)}
    row = shown("events", ev)
    assert (row["LAST SEEN"], row["COUNT"]) == ("10s", 4)


def test_event_columns_follow_upstream() -> None:
    cols = columns_for(REGISTRY.get("", "v1", "events"))  # type: ignore[arg-type]
    assert [(c["name"], c["priority"]) for c in cols] == [
        ("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Subobject", 1), ("Source", 1),
        ("Message", 0), ("First Seen", 1), ("Count", 1), ("Name", 1)]


# --- quota, volumes, controllers ------------------------------------------------------------------

def test_resource_quota() -> None:
    rq = {"metadata": {"name": "q", "creationTimestamp": CREATED},
          "status": {"hard": {"pods": "10", "requests.cpu": "1", "limits.memory": "2Gi", "limits.cpu": "2"},
                     "used": {"pods": "3", "requests.cpu": "500m", "limits.cpu": "1"}}}
    assert cells("resourcequotas", rq) == ["q", "pods: 3/10, requests.cpu: 500m/1",
                                           "limits.cpu: 1/2, limits.memory: 0/2Gi", "60m"]


def test_limit_range_uses_default_table() -> None:
    lr = {"metadata": {"name": "limits", "creationTimestamp": "2024-04-01T08:30:00Z"}}
    assert cells("limitranges", lr) == ["limits", "2024-04-01T08:30:00Z"]
    cols = columns_for(REGISTRY.get("", "v1", "limitranges"))  # type: ignore[arg-type]
    assert [(c["name"], c["type"]) for c in cols] == [("Name", "string"), ("Created At", "date")]


def test_persistent_volume() -> None:
    pv = {"metadata": {"name": "pv1", "creationTimestamp": CREATED},
          "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                   "persistentVolumeReclaimPolicy": "Retain", "claimRef": {"namespace": "default", "name": "data"},
                   "storageClassName": "standard", "volumeMode": "Filesystem"},
          "status": {"phase": "Bound"}}
    assert cells("persistentvolumes", pv) == ["pv1", "10Gi", "RWO,RWX", "Retain", "Bound", "default/data",
                                              "standard", "<unset>", "", "60m", "Filesystem"]
    pv["metadata"]["deletionTimestamp"] = ago(1)
    assert shown("persistentvolumes", pv)["STATUS"] == "Terminating"


def test_persistent_volume_claim() -> None:
    pvc = {"metadata": {"name": "data", "creationTimestamp": CREATED},
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                    "storageClassName": "standard", "volumeMode": "Filesystem"},
           "status": {"phase": "Pending"}}
    assert cells("persistentvolumeclaims", pvc) == ["data", "Pending", "", "", "", "standard", "<unset>", "60m",
                                                    "Filesystem"]
    pvc["spec"]["volumeName"] = "pvc-123"
    pvc["status"] = {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}
    assert cells("persistentvolumeclaims", pvc)[1:5] == ["Bound", "pvc-123", "1Gi", "RWO"]


def test_replication_controller_and_pod_template() -> None:
    template = {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}, {"name": "log", "image": "busybox"}]}}
    rc = {"metadata": {"name": "rc", "creationTimestamp": CREATED},
          "spec": {"replicas": 3, "selector": {"app": "web"}, "template": template},
          "status": {"replicas": 3, "readyReplicas": 2}}
    assert cells("replicationcontrollers", rc) == ["rc", 3, 3, 2, "60m", "nginx,log", "nginx:1.25,busybox", "app=web"]
    pt = {"metadata": {"name": "pt", "creationTimestamp": CREATED}, "template": template}
    assert cells("podtemplates", pt) == ["pt", "nginx,log", "nginx:1.25,busybox", "app=web"]

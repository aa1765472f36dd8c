"""Upstream's defaulting (pkg/apis/<group>/v1/defaults.go plus the generated zero-value defaults),
applied in place to JSON-shaped objects before validation.

Only defaults that need no storage live here: Service clusterIP/nodePort allocation, generated names,
UIDs and the Job's generated selector (see ``job_selector_labels``) belong to the API server.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from navarch.api.resources import ResourceInfo

JOB_CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
# Older spellings upstream still adds to Job pod templates for compatibility.
LEGACY_JOB_CONTROLLER_UID_LABEL = "controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"

Defaulter = Callable[[dict[str, Any]], None]


def apply_defaults(resource: ResourceInfo, obj: dict[str, Any]) -> None:
    """Fill upstream's defaults into ``obj`` (mutated in place; values already set are kept)."""
    fn = _DEFAULTERS.get((resource.group, resource.kind))
    if fn is not None:
        fn(obj)


def job_selector_labels(uid: str, name: str) -> dict[str, str]:
    """The labels upstream generates for a Job without ``manualSelector``: the selector matches
    ``controller-uid`` and the pod template carries all four (the lead calls this once the uid is set)."""
    return {
        JOB_CONTROLLER_UID_LABEL: uid,
        JOB_NAME_LABEL: name,
        LEGACY_JOB_CONTROLLER_UID_LABEL: uid,
        LEGACY_JOB_NAME_LABEL: name,
    }


def apply_job_selector(job: dict[str, Any], uid: str) -> None:
    """Upstream's generateSelector: with ``manualSelector`` unset, select on the controller uid and
    label the template with the generated labels."""
    spec = job.setdefault("spec", {})
    if spec.get("manualSelector") is True:
        return
    name = (job.get("metadata") or {}).get("name") or ""
    generated = job_selector_labels(uid, name)
    template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
    labels = template_meta.get("labels") or {}
    for k, v in generated.items():
        labels.setdefault(k, v)
    template_meta["labels"] = labels
    spec["selector"] = {"matchLabels": {JOB_CONTROLLER_UID_LABEL: uid}}


def _set(d: dict[str, Any], key: str, value: Any) -> None:
    if d.get(key) is None:
        d[key] = value


def _dict(d: dict[str, Any], key: str) -> dict[str, Any]:
    v = d.get(key)
    if not isinstance(v, dict):
        v = {}
        d[key] = v
    return v


# ---------------------------------------------------------------------------------------------
# Pods and pod templates


def default_pod_spec(spec: dict[str, Any]) -> None:
    _set(spec, "restartPolicy", "Always")
    _set(spec, "dnsPolicy", "ClusterFirst")
    _set(spec, "terminationGracePeriodSeconds", 30)
    _set(spec, "schedulerName", "default-scheduler")
    _set(spec, "securityContext", {})
    _set(spec, "enableServiceLinks", True)
    # serviceAccount is the deprecated alias kept in sync with serviceAccountName.
    if spec.get("serviceAccountName") and not spec.get("serviceAccount"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    elif spec.get("serviceAccount") and not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                _default_container(c)
    for c in spec.get("ephemeralContainers") or []:
        if isinstance(c, dict):
            _default_container(c, probes=False)
    for vol in spec.get("volumes") or []:
        if isinstance(vol, dict):
            _default_volume(vol)
    if spec.get("hostNetwork"):
        # With hostNetwork, container ports default their hostPort to the container port.
        for key in ("containers", "initContainers"):
            for c in spec.get(key) or []:
                for port in (c or {}).get("ports") or []:
                    if isinstance(port, dict) and port.get("containerPort") and not port.get("hostPort"):
                        port["hostPort"] = port["containerPort"]


def _default_pod(pod: dict[str, Any]) -> None:
    spec = _dict(pod, "spec")
    # priority and preemptionPolicy are the Priority admission plugin's to set, as upstream: a
    # default here would look to it like a value the user chose.
    default_pod_spec(spec)


def _image_tag_is_latest(image: str) -> bool:
    if "@" in image:
        return False
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return True
    return last.rsplit(":", 1)[1] == "latest"


def _default_container(c: dict[str, Any], probes: bool = True) -> None:
    _set(c, "terminationMessagePath", "/dev/termination-log")
    _set(c, "terminationMessagePolicy", "File")
    if not c.get("imagePullPolicy"):
        image = c.get("image") or ""
        c["imagePullPolicy"] = "Always" if _image_tag_is_latest(image) else "IfNotPresent"
    _set(c, "resources", {})
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            _set(port, "protocol", "TCP")
    for env in c.get("env") or []:
        field_ref = ((env or {}).get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            _set(field_ref, "apiVersion", "v1")
    if probes:
        for key in ("livenessProbe", "readinessProbe", "startupProbe"):
            probe = c.get(key)
            if isinstance(probe, dict):
                _default_probe(probe)
    lifecycle = c.get("lifecycle")
    if isinstance(lifecycle, dict):
        for key in ("postStart", "preStop"):
            handler = lifecycle.get(key)
            if isinstance(handler, dict) and isinstance(handler.get("httpGet"), dict):
                _set(handler["httpGet"], "path", "/")
                _set(handler["httpGet"], "scheme", "HTTP")


def _default_probe(probe: dict[str, Any]) -> None:
    _set(probe, "timeoutSeconds", 1)
    _set(probe, "periodSeconds", 10)
    _set(probe, "successThreshold", 1)
    _set(probe, "failureThreshold", 3)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        _set(http, "path", "/")
        _set(http, "scheme", "HTTP")
    grpc = probe.get("grpc")
    if isinstance(grpc, dict):
        _set(grpc, "service", "")


def _default_volume(vol: dict[str, Any]) -> None:
    sources = ("hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret",
               "nfs", "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs",
               "flocker", "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte",
               "azureDisk", "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos",
               "csi", "ephemeral", "image")
    if not any(vol.get(s) is not None for s in sources):
        vol["emptyDir"] = {}
    for key in ("configMap", "secret", "downwardAPI", "projected"):
        src = vol.get(key)
        if isinstance(src, dict):
            _set(src, "defaultMode", 420)
    for item in (vol.get("downwardAPI") or {}).get("items") or []:
        ref = (item or {}).get("fieldRef")
        if isinstance(ref, dict):
            _set(ref, "apiVersion", "v1")
    for source in (vol.get("projected") or {}).get("sources") or []:
        token = (source or {}).get("serviceAccountToken")
        if isinstance(token, dict):
            _set(token, "expirationSeconds", 3600)
        for item in ((source or {}).get("downwardAPI") or {}).get("items") or []:
            ref = (item or {}).get("fieldRef")
            if isinstance(ref, dict):
                _set(ref, "apiVersion", "v1")
    host = vol.get("hostPath")
    if isinstance(host, dict):
        _set(host, "type", "")
    iscsi = vol.get("iscsi")
    if isinstance(iscsi, dict):
        _set(iscsi, "iscsiInterface", "default")
    rbd = vol.get("rbd")
    if isinstance(rbd, dict):
        _set(rbd, "pool", "rbd")
        _set(rbd, "user", "admin")
        _set(rbd, "keyring", "/etc/ceph/keyring")
    azure = vol.get("azureDisk")
    if isinstance(azure, dict):
        _set(azure, "cachingMode", "ReadWrite")
        _set(azure, "fsType", "ext4")
        _set(azure, "readOnly", False)
        _set(azure, "kind", "Shared")


def _default_template(holder: dict[str, Any]) -> dict[str, Any]:
    template = _dict(holder, "template")
    default_pod_spec(_dict(template, "spec"))
    return template


# ---------------------------------------------------------------------------------------------
# Workloads


def _template_labels(spec: dict[str, Any]) -> dict[str, Any]:
    return ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}


def _default_replication_controller(obj: dict[str, Any]) -> None:
    spec = _dict(obj, "spec")
    _set(spec, "replicas", 1)
    _set(spec, "minReadySeconds", 0)
    labels = _template_labels(spec)
    # RCs default their selector and their own labels from the template's labels.
    if not spec.get("selector") and labels:
        spec["selector"] = dict(labels)
    meta = _dict(obj, "metadata")
    if not meta.get("labels") and labels:
        meta["labels"] = dict(labels)
    _default_template(spec)


def _default_deployment(obj: dict[str, Any]) -> None:
    spec = _dict(obj, "spec")
    _set(spec, "replicas", 1)
    strategy = _dict(spec, "strategy")
    _set(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = _dict(strategy, "rollingUpdate")
        _set(ru, "maxUnavailable", "25%")
        _set(ru, "maxSurge", "25%")
    _set(spec, "revisionHistoryLimit", 10)
    _set(spec, "progressDeadlineSeconds", 600)
    _default_template(spec)


def _default_replica_set(obj: dict[str, Any]) -> None:
    spec = _dict(obj, "spec")
    _set(spec, "replicas", 1)
    _default_template(spec)


def _default_stateful_set(obj: dict[str, Any]) -> None:
    spec = _dict(obj, "spec")
    _set(spec, "replicas", 1)
    _set(spec, "podManagementPolicy", "OrderedReady")
    strategy = _dict(spec, "updateStrategy")
    _set(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = _dict(strategy, "rollingUpdate")
        _set(ru, "partition", 0)
    _set(spec, "revisionHistoryLimit", 10)
    retention = _dict(spec, "persistentVolumeClaimRetentionPolicy")
    _set(retention, "whenDeleted", "Retain")
    _set(retention, "whenScaled", "Retain")
    for claim in spec.get("volumeClaimTemplates") or []:
        if isinstance(claim, dict):
            claim_spec = _dict(claim, "spec")
            _set(claim_spec, "volumeMode", "Filesystem")
            claim.setdefault("apiVersion", "v1")
            claim.setdefault("kind", "PersistentVolumeClaim")
    _default_template(spec)


def _default_daemon_set(obj: dict[str, Any]) -> None:
    spec = _dict(obj, "spec")
    strategy = _dict(spec, "updateStrategy")
    _set(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = _dict(strategy, "rollingUpdate")
        _set(ru, "maxUnavailable", 1)
        _set(ru, "maxSurge", 0)
    _set(spec, "revisionHistoryLimit", 10)
    _default_template(spec)


def default_job_spec(spec: dict[str, Any]) -> None:
    # Upstream: completions and parallelism both default to 1 only when neither is set; when only
    # parallelism is set, completions stays unset (a work queue).
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    _set(spec, "parallelism", 1)
    if spec.get("backoffLimit") is None:
        # With a per-index limit the global one is effectively off.
        per_index = spec.get("completionMode") == "Indexed" and spec.get("backoffLimitPerIndex") is not None
        spec["backoffLimit"] = 2**31 - 1 if per_index else 6
    _set(spec, "completionMode", "NonIndexed")
    _set(spec, "suspend", False)
    policy = "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed"
    _set(spec, "podReplacementPolicy", policy)
    _default_template(spec)


def _default_job(obj: dict[str, Any]) -> None:
    default_job_spec(_dict(obj, "spec"))


def _default_cron_job(obj: dict[str, Any]) -> None:
    spec = _dict(obj, "spec")
    _set(spec, "concurrencyPolicy", "Allow")
    _set(spec, "suspend", False)
    _set(spec, "successfulJobsHistoryLimit", 3)
    _set(spec, "failedJobsHistoryLimit", 1)
    job_template = _dict(spec, "jobTemplate")
    job_spec = _dict(job_template, "spec")
    # The Job defaults (parallelism, backoffLimit, ...) are applied when the Job is created, not
    # to the CronJob's template; only the pod template is defaulted here, as upstream does.
    _default_template(job_spec)


# ---------------------------------------------------------------------------------------------
# Core objects


def _default_service(obj: dict[str, Any]) -> None:
    spec = _dict(obj, "spec")
    _set(spec, "type", "ClusterIP")
    stype = spec["type"]
    _set(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "ClientIP":
        config = _dict(spec, "sessionAffinityConfig")
        client_ip = _dict(config, "clientIP")
        _set(client_ip, "timeoutSeconds", 10800)
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            _set(port, "protocol", "TCP")
            if port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port")
    if stype != "ExternalName":
        _set(spec, "internalTrafficPolicy", "Cluster")
        # Headless services without a selector get no IP family defaults upstream until the
        # allocator runs; everything else is single-stack IPv4 on this cluster.
        _set(spec, "ipFamilyPolicy", "SingleStack")
        if not spec.get("ipFamilies"):
            spec["ipFamilies"] = ["IPv4"]
    if stype in ("NodePort", "LoadBalancer"):
        _set(spec, "externalTrafficPolicy", "Cluster")
    if stype == "LoadBalancer":
        _set(spec, "allocateLoadBalancerNodePorts", True)


def _default_namespace(obj: dict[str, Any]) -> None:
    spec = _dict(obj, "spec")
    if not spec.get("finalizers"):
        spec["finalizers"] = ["kubernetes"]
    status = _dict(obj, "status")
    _set(status, "phase", "Active")
    # The NamespaceDefaultLabelName feature: every namespace carries its own name as a label.
    name = (obj.get("metadata") or {}).get("name")
    if name:
        labels = _dict(_dict(obj, "metadata"), "labels")
        labels["kubernetes.io/metadata.name"] = name


def _default_secret(obj: dict[str, Any]) -> None:
    _set(obj, "type", "Opaque")
    # stringData is write-only: upstream's conversion folds it into data (base64) and drops it.
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data") or {}
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()
        obj["data"] = data


def _default_pvc(obj: dict[str, Any]) -> None:
    spec = _dict(obj, "spec")
    _set(spec, "volumeMode", "Filesystem")
    status = _dict(obj, "status")
    _set(status, "phase", "Pending")


def _default_pv(obj: dict[str, Any]) -> None:
    spec = _dict(obj, "spec")
    _set(spec, "persistentVolumeReclaimPolicy", "Retain")
    _set(spec, "volumeMode", "Filesystem")
    status = _dict(obj, "status")
    _set(status, "phase", "Pending")


def _default_node(obj: dict[str, Any]) -> None:
    status = obj.get("status")
    if isinstance(status, dict) and status.get("capacity") and not status.get("allocatable"):
        status["allocatable"] = dict(status["capacity"])


def _default_endpoints(obj: dict[str, Any]) -> None:
    for subset in obj.get("subsets") or []:
        for port in (subset or {}).get("ports") or []:
            if isinstance(port, dict):
                _set(port, "protocol", "TCP")


def _default_limit_range(obj: dict[str, Any]) -> None:
    # Container limits: default request from default limit, default limit from max.
    for item in _dict(obj, "spec").get("limits") or []:
        if not isinstance(item, dict) or item.get("type") != "Container":
            continue
        default = item.get("default") or {}
        for k, v in (item.get("max") or {}).items():
            default.setdefault(k, v)
        if default:
            item["default"] = default
        request = item.get("defaultRequest") or {}
        for k, v in default.items():
            request.setdefault(k, v)
        for k, v in (item.get("min") or {}).items():
            request.setdefault(k, v)
        if request:
            item["defaultRequest"] = request


def _default_pod_template(obj: dict[str, Any]) -> None:
    default_pod_spec(_dict(_dict(obj, "template"), "spec"))


# ---------------------------------------------------------------------------------------------
# Other groups


def _default_network_policy(obj: dict[str, Any]) -> None:
    spec = _dict(obj, "spec")
    _dict(spec, "podSelector")
    for rule in spec.get("ingress") or []:
        for port in (rule or {}).get("ports") or []:
            if isinstance(port, dict):
                _set(port, "protocol", "TCP")
    for rule in spec.get("egress") or []:
        for port in (rule or {}).get("ports") or []:
            if isinstance(port, dict):
                _set(port, "protocol", "TCP")
    if not spec.get("policyTypes"):
        types = ["Ingress"]
        if spec.get("egress"):
            types.append("Egress")
        spec["policyTypes"] = types


def _default_hpa(obj: dict[str, Any]) -> None:
    spec = _dict(obj, "spec")
    _set(spec, "minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    behavior = spec.get("behavior")
    if not isinstance(behavior, dict):
        return  # upstream fills behavior's rules only when behavior is given
    up = _dict(behavior, "scaleUp")
    _set(up, "stabilizationWindowSeconds", 0)
    _set(up, "selectPolicy", "Max")
    if not up.get("policies"):
        up["policies"] = [{"type": "Pods", "value": 4, "periodSeconds": 15},
                          {"type": "Percent", "value": 100, "periodSeconds": 15}]
    down = _dict(behavior, "scaleDown")
    _set(down, "selectPolicy", "Max")
    if not down.get("policies"):
        down["policies"] = [{"type": "Percent", "value": 100, "periodSeconds": 15}]


def _default_priority_class(obj: dict[str, Any]) -> None:
    _set(obj, "preemptionPolicy", "PreemptLowerPriority")


def _default_storage_class(obj: dict[str, Any]) -> None:
    _set(obj, "reclaimPolicy", "Delete")
    _set(obj, "volumeBindingMode", "Immediate")


def _default_rbac_binding(obj: dict[str, Any]) -> None:
    for subject in obj.get("subjects") or []:
        if not isinstance(subject, dict) or subject.get("apiGroup"):
            continue
        if subject.get("kind") == "ServiceAccount":
            subject["apiGroup"] = ""
        elif subject.get("kind") in ("User", "Group"):
            subject["apiGroup"] = "rbac.authorization.k8s.io"


def _default_endpoint_slice(obj: dict[str, Any]) -> None:
    for port in obj.get("ports") or []:
        if isinstance(port, dict):
            _set(port, "protocol", "TCP")
            _set(port, "name", "")


def _default_ingress_class(obj: dict[str, Any]) -> None:
    params = _dict(obj, "spec").get("parameters")
    if isinstance(params, dict) and params.get("namespace"):
        _set(params, "scope", "Namespace")
    elif isinstance(params, dict):
        _set(params, "scope", "Cluster")


_DEFAULTERS: dict[tuple[str, str], Defaulter] = {
    ("", "Pod"): _default_pod,
    ("", "PodTemplate"): _default_pod_template,
    ("", "ReplicationController"): _default_replication_controller,
    ("", "Service"): _default_service,
    ("", "Namespace"): _default_namespace,
    ("", "Secret"): _default_secret,
    ("", "PersistentVolumeClaim"): _default_pvc,
    ("", "PersistentVolume"): _default_pv,
    ("", "Node"): _default_node,
    ("", "Endpoints"): _default_endpoints,
    ("", "LimitRange"): _default_limit_range,
    ("apps", "Deployment"): _default_deployment,
    ("apps", "ReplicaSet"): _default_replica_set,
    ("apps", "StatefulSet"): _default_stateful_set,
    ("apps", "DaemonSet"): _default_daemon_set,
    ("batch", "Job"): _default_job,
    ("batch", "CronJob"): _default_cron_job,
    ("networking.k8s.io", "NetworkPolicy"): _default_network_policy,
    ("networking.k8s.io", "IngressClass"): _default_ingress_class,
    ("autoscaling", "HorizontalPodAutoscaler"): _default_hpa,
    ("scheduling.k8s.io", "PriorityClass"): _default_priority_class,
    ("storage.k8s.io", "StorageClass"): _default_storage_class,
    ("rbac.authorization.k8s.io", "RoleBinding"): _default_rbac_binding,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _default_rbac_binding,
    ("discovery.k8s.io", "EndpointSlice"): _default_endpoint_slice,
}

"""Printers for the core (``""``) group, following upstream pkg/printers/internalversion."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from navarch.apiserver.printers import format as f
from navarch.apiserver.printers.spec import (
    Column,
    Printer,
    age_column,
    col,
    container_columns,
    name_column,
    wide,
)

# Upstream node.NodeUnreachablePodReason: the node controller marks pods of a lost node this way.
NODE_LOST = "NodeLost"
_POD_SUCCEEDED = [{"type": "Completed", "status": "True", "reason": "Succeeded",
                   "message": "The pod has completed successfully."}]
_POD_FAILED = [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]


# --- pods -----------------------------------------------------------------------------------------

def _restartable(container: dict[str, Any] | None) -> bool:
    """A sidecar: an init container with ``restartPolicy: Always``."""
    return bool(container) and container.get("restartPolicy") == "Always"  # type: ignore[union-attr]


def _finished_at(status: dict[str, Any]) -> float | None:
    term = (status.get("lastState") or {}).get("terminated")
    return f.epoch(term.get("finishedAt")) if term else None


def pod_cells(pod: dict[str, Any], now: float) -> list[Any]:
    """READY, STATUS and RESTARTS computed the way kubectl shows them (upstream printPod)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    init_specs = spec.get("initContainers") or ()
    containers = spec.get("containers") or ()

    restarts = 0
    sidecar_restarts = 0
    total = len(containers)
    ready = 0
    last_restart: float | None = None
    last_sidecar_restart: float | None = None

    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    conditions = status.get("conditions") or ()
    for c in conditions:
        if c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_by_name: dict[str, dict[str, Any]] = {}
    for c in init_specs:
        init_by_name[c.get("name", "")] = c
        if _restartable(c):
            total += 1

    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or ()):
        restarts += cs.get("restartCount") or 0
        finished = _finished_at(cs)
        if finished is not None and (last_restart is None or finished > last_restart):
            last_restart = finished
        sidecar = _restartable(init_by_name.get(cs.get("name", "")))
        if sidecar:
            sidecar_restarts += cs.get("restartCount") or 0
            if finished is not None and (last_sidecar_restart is None or finished > last_sidecar_restart):
                last_sidecar_restart = finished
        state = cs.get("state") or {}
        terminated = state.get("terminated")
        waiting = state.get("waiting")
        if terminated and not terminated.get("exitCode"):
            continue
        if sidecar and cs.get("started"):
            if cs.get("ready"):
                ready += 1
            continue
        if terminated:
            if terminated.get("reason"):
                reason = "Init:" + terminated["reason"]
            elif terminated.get("signal"):
                reason = f"Init:Signal:{terminated['signal']}"
            else:
                reason = f"Init:ExitCode:{terminated.get('exitCode', 0)}"
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or f.condition_true(conditions, "Initialized"):
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or ()):
            restarts += cs.get("restartCount") or 0
            finished = _finished_at(cs)
            if finished is not None and (last_restart is None or finished > last_restart):
                last_restart = finished
            state = cs.get("state") or {}
            waiting = state.get("waiting")
            terminated = state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated:
                if terminated.get("signal"):
                    reason = f"Signal:{terminated['signal']}"
                else:
                    reason = f"ExitCode:{terminated.get('exitCode', 0)}"
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        # A pod whose first container completed while another still runs is not "Completed".
        if reason == "Completed" and has_running:
            reason = "Running" if f.condition_true(conditions, "Ready") else "NotReady"

    if meta.get("deletionTimestamp"):
        if status.get("reason") == NODE_LOST:
            reason = "Unknown"
        elif phase not in ("Failed", "Succeeded"):
            reason = "Terminating"

    restarts_cell = str(restarts)
    if restarts and last_restart is not None:
        restarts_cell = f"{restarts} ({f.human_duration(now - last_restart)} ago)"

    ips = status.get("podIPs") or ()
    pod_ip = (ips[0].get("ip") if ips else status.get("podIP")) or f.NONE
    gates = spec.get("readinessGates") or ()
    if gates:
        by_type: dict[str, str] = {}
        for c in conditions:
            by_type.setdefault(c.get("type"), c.get("status"))
        passed = sum(1 for g in gates if by_type.get(g.get("conditionType")) == "True")
        gates_cell = f"{passed}/{len(gates)}"
    else:
        gates_cell = f.NONE
    return [meta.get("name", ""), f"{ready}/{total}", reason, restarts_cell,
            f.since(meta.get("creationTimestamp"), now),
            pod_ip, spec.get("nodeName") or f.NONE, status.get("nominatedNodeName") or f.NONE, gates_cell]


def pod_conditions(pod: dict[str, Any]) -> list[dict[str, Any]] | None:
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return _POD_SUCCEEDED
    if phase == "Failed":
        return _POD_FAILED
    return None


# --- nodes ----------------------------------------------------------------------------------------

_ROLE_PREFIX = "node-role.kubernetes.io/"
_ROLE_LABEL = "kubernetes.io/role"


def node_roles(labels: dict[str, str]) -> str:
    roles: set[str] = set()
    for k, v in labels.items():
        if k.startswith(_ROLE_PREFIX):
            if k[len(_ROLE_PREFIX):]:
                roles.add(k[len(_ROLE_PREFIX):])
        elif k == _ROLE_LABEL and v:
            roles.add(v)
    return ",".join(sorted(roles)) or f.NONE


def _node_address(status: dict[str, Any], kind: str) -> str:
    for a in status.get("addresses") or ():
        if a.get("type") == kind:
            return str(a.get("address", ""))
    return f.NONE


def node_cells(node: dict[str, Any], now: float) -> list[Any]:
    meta = node.get("metadata") or {}
    status = node.get("status") or {}
    info = status.get("nodeInfo") or {}
    ready = None
    for c in status.get("conditions") or ():
        if c.get("type") == "Ready":
            ready = c  # the last one wins, as upstream's condition map does
    words = ["Unknown" if ready is None else ("Ready" if ready.get("status") == "True" else "NotReady")]
    if (node.get("spec") or {}).get("unschedulable"):
        words.append("SchedulingDisabled")
    return [meta.get("name", ""), ",".join(words), node_roles(meta.get("labels") or {}),
            f.since(meta.get("creationTimestamp"), now), info.get("kubeletVersion", ""),
            _node_address(status, "InternalIP"), _node_address(status, "ExternalIP"),
            info.get("osImage") or f.UNKNOWN, info.get("kernelVersion") or f.UNKNOWN,
            info.get("containerRuntimeVersion") or f.UNKNOWN]


# --- services and endpoints -----------------------------------------------------------------------

def service_external_ip(spec: dict[str, Any], status: dict[str, Any]) -> str:
    stype = spec.get("type") or "ClusterIP"
    external = spec.get("externalIPs") or []
    if stype in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else f.NONE
    if stype == "LoadBalancer":
        lb = f.ingress_addresses(status.get("loadBalancer"))
        if external:
            return ",".join(([lb] if lb else []) + external)
        return lb or "<pending>"
    if stype == "ExternalName":
        return str(spec.get("externalName", ""))
    return f.UNKNOWN


def service_ports(ports: list[dict[str, Any]] | None) -> str:
    pieces = []
    for p in ports or ():
        proto = p.get("protocol") or "TCP"
        node_port = p.get("nodePort")
        if node_port:
            pieces.append(f"{p.get('port')}:{node_port}/{proto}")
        else:
            pieces.append(f"{p.get('port')}/{proto}")
    return ",".join(pieces) or f.NONE


def service_cells(svc: dict[str, Any], now: float) -> list[Any]:
    meta = svc.get("metadata") or {}
    spec = svc.get("spec") or {}
    ips = spec.get("clusterIPs") or ()
    cluster_ip = ips[0] if ips else (spec.get("clusterIP") or f.NONE)
    return [meta.get("name", ""), spec.get("type") or "ClusterIP", cluster_ip,
            service_external_ip(spec, svc.get("status") or {}), service_ports(spec.get("ports")),
            f.since(meta.get("creationTimestamp"), now), f.format_labels(spec.get("selector"))]


def format_endpoints(subsets: list[dict[str, Any]] | None, limit: int = 3) -> str:
    """Upstream formatEndpoints: ``ip:port`` for every port of every subset, the first three shown."""
    if not subsets:
        return f.NONE
    shown: list[str] = []
    count = 0
    for ss in subsets:
        addresses = ss.get("addresses") or ()
        ports = ss.get("ports") or ()
        if not ports:
            # Headless services may have no ports.
            count += len(addresses)
            for a in addresses:
                if len(shown) == limit:
                    break
                shown.append(a.get("ip", ""))
            continue
        for p in ports:
            count += len(addresses)
            for a in addresses:
                if len(shown) == limit:
                    break
                shown.append(f.join_host_port(a.get("ip", ""), p.get("port")))
    text = ",".join(shown)
    if count > limit:
        return f"{text} + {count - limit} more..."
    return text


def endpoints_cells(ep: dict[str, Any], now: float) -> list[Any]:
    meta = ep.get("metadata") or {}
    return [meta.get("name", ""), format_endpoints(ep.get("subsets")), f.since(meta.get("creationTimestamp"), now)]


# --- config, identity, namespaces -----------------------------------------------------------------

def namespace_cells(ns: dict[str, Any], now: float) -> list[Any]:
    meta = ns.get("metadata") or {}
    return [meta.get("name", ""), (ns.get("status") or {}).get("phase", ""),
            f.since(meta.get("creationTimestamp"), now)]


def configmap_cells(cm: dict[str, Any], now: float) -> list[Any]:
    meta = cm.get("metadata") or {}
    return [meta.get("name", ""), len(cm.get("data") or ()) + len(cm.get("binaryData") or ()),
            f.since(meta.get("creationTimestamp"), now)]


def secret_cells(secret: dict[str, Any], now: float) -> list[Any]:
    meta = secret.get("metadata") or {}
    return [meta.get("name", ""), secret.get("type") or "Opaque", len(secret.get("data") or ()),
            f.since(meta.get("creationTimestamp"), now)]


def serviceaccount_cells(sa: dict[str, Any], now: float) -> list[Any]:
    meta = sa.get("metadata") or {}
    return [meta.get("name", ""), len(sa.get("secrets") or ()), f.since(meta.get("creationTimestamp"), now)]


# --- events ---------------------------------------------------------------------------------------

def event_source(component: str, host: str) -> str:
    return f"{component}, {host}" if host else component


def event_row(name: str, now: float, *, first: Any, last: Any, event_time: Any, series: Any, count: Any,
              etype: str, reason: str, kind: str, obj_name: str, field_path: str, source: str,
              message: str) -> list[Any]:
    """Upstream printEvent over either event API's fields (events.k8s.io is printed the same way)."""
    first_seen = f.since(first, now) if f.epoch(first) is not None else f.since(event_time, now)
    last_seen = f.since(last, now) if f.epoch(last) is not None else first_seen
    if series:
        last_seen = f.since(series.get("lastObservedTime"), now)
        count = series.get("count") or 0
    elif not count:
        count = 1  # singleton events of the new API carry no count
    target = f"{kind.lower()}/{obj_name}" if obj_name else kind.lower()
    return [last_seen, etype, reason, target, field_path, source, message.strip(), first_seen, count, name]


def event_cells(ev: dict[str, Any], now: float) -> list[Any]:
    involved = ev.get("involvedObject") or {}
    src = ev.get("source") or {}
    return event_row(
        (ev.get("metadata") or {}).get("name", ""), now,
        first=ev.get("firstTimestamp"), last=ev.get("lastTimestamp"), event_time=ev.get("eventTime"),
        series=ev.get("series"), count=ev.get("count"), etype=ev.get("type", ""), reason=ev.get("reason", ""),
        kind=involved.get("kind", ""), obj_name=involved.get("name", ""), field_path=involved.get("fieldPath", ""),
        source=event_source(src.get("component") or ev.get("reportingComponent") or "",
                            src.get("host") or ev.get("reportingInstance") or ""),
        message=ev.get("message") or "")


def event_columns() -> tuple[Column, ...]:
    return (
        col("Last Seen", "Time when this Event was last observed."),
        col("Type", "Type of this event (Normal, Warning)."),
        col("Reason", "A short, machine understandable string that gives the reason for the transition."),
        col("Object", "The object that this event is about."),
        wide("Subobject", "The field of the involved object the event is about (fieldPath)."),
        wide("Source", "The component reporting this event."),
        col("Message", "A human-readable description of the status of this operation."),
        wide("First Seen", "The time at which the event was first recorded."),
        wide("Count", "The number of times this event has occurred."),
        name_column(priority=1),
    )


# --- quota, volumes, controllers, templates -------------------------------------------------------

def resourcequota_cells(rq: dict[str, Any], now: float) -> list[Any]:
    meta = rq.get("metadata") or {}
    status = rq.get("status") or {}
    hard = status.get("hard") or {}
    used = status.get("used") or {}
    requests: list[str] = []
    limits: list[str] = []
    for name in sorted(hard):
        target = limits if name.split(".", 1)[0] == "limits" and "." in name else requests
        target.append(f"{name}: {f.quantity(used.get(name))}/{f.quantity(hard[name])}")
    return [meta.get("name", ""), ", ".join(requests), ", ".join(limits), f.since(meta.get("creationTimestamp"), now)]


_ACCESS_MODES = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
                 ("ReadWriteOncePod", "RWOP"))
_BETA_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


def access_modes(modes: list[str] | None) -> str:
    have = set(modes or ())
    return ",".join(short for mode, short in _ACCESS_MODES if mode in have)


def _storage_class(obj: dict[str, Any]) -> str:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if _BETA_CLASS_ANNOTATION in annotations:
        return str(annotations[_BETA_CLASS_ANNOTATION])
    return str((obj.get("spec") or {}).get("storageClassName") or "")


def pv_cells(pv: dict[str, Any], now: float) -> list[Any]:
    meta = pv.get("metadata") or {}
    spec = pv.get("spec") or {}
    status = pv.get("status") or {}
    ref = spec.get("claimRef")
    claim = f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else ""
    phase = "Terminating" if meta.get("deletionTimestamp") else status.get("phase", "")
    return [meta.get("name", ""), f.quantity((spec.get("capacity") or {}).get("storage")),
            access_modes(spec.get("accessModes")), spec.get("persistentVolumeReclaimPolicy", ""), phase, claim,
            _storage_class(pv), spec.get("volumeAttributesClassName") or "<unset>", status.get("reason", ""),
            f.since(meta.get("creationTimestamp"), now), spec.get("volumeMode") or "<unset>"]


def pvc_cells(pvc: dict[str, Any], now: float) -> list[Any]:
    meta = pvc.get("metadata") or {}
    spec = pvc.get("spec") or {}
    status = pvc.get("status") or {}
    phase = "Terminating" if meta.get("deletionTimestamp") else status.get("phase", "")
    capacity = modes = ""
    volume = spec.get("volumeName") or ""
    if volume:
        modes = access_modes(status.get("accessModes"))
        capacity = f.quantity((status.get("capacity") or {}).get("storage"))
    return [meta.get("name", ""), phase, volume, capacity, modes, _storage_class(pvc),
            spec.get("volumeAttributesClassName") or "<unset>", f.since(meta.get("creationTimestamp"), now),
            spec.get("volumeMode") or "<unset>"]


def rc_cells(rc: dict[str, Any], now: float) -> list[Any]:
    meta = rc.get("metadata") or {}
    spec = rc.get("spec") or {}
    status = rc.get("status") or {}
    names, images = f.container_cells(f.template_spec(rc))
    replicas = spec.get("replicas")
    return [meta.get("name", ""), 1 if replicas is None else replicas, status.get("replicas") or 0,
            status.get("readyReplicas") or 0, f.since(meta.get("creationTimestamp"), now),
            names, images, f.format_labels(spec.get("selector"))]


def podtemplate_cells(pt: dict[str, Any], now: float) -> list[Any]:
    template = pt.get("template") or {}
    names, images = f.container_cells(template.get("spec"))
    return [(pt.get("metadata") or {}).get("name", ""), names, images,
            f.format_labels((template.get("metadata") or {}).get("labels"))]


PRINTERS = MappingProxyType({
    ("", "pods"): Printer((
        name_column(),
        col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
        col("Status", "The aggregate status of the containers in this pod."),
        col("Restarts", "The number of times the containers in this pod have been restarted and when the "
                        "last container in this pod has restarted."),
        age_column(),
        wide("IP", "IP address allocated to the pod."),
        wide("Node", "The node this pod is scheduled onto."),
        wide("Nominated Node", "The node the scheduler nominated for this pod after preemption."),
        wide("Readiness Gates", "Readiness gates of the pod that are met, of those declared."),
    ), pod_cells, pod_conditions),
    ("", "nodes"): Printer((
        name_column(),
        col("Status", "The status of the node"),
        col("Roles", "The roles of the node"),
        age_column(),
        col("Version", "Kubelet Version reported by the node."),
        wide("Internal-IP", "The node's first internal IP address."),
        wide("External-IP", "The node's first external IP address."),
        wide("OS-Image", "OS Image reported by the node."),
        wide("Kernel-Version", "Kernel Version reported by the node."),
        wide("Container-Runtime", "ContainerRuntime Version reported by the node."),
    ), node_cells),
    ("", "namespaces"): Printer((
        name_column(), col("Status", "The status of the namespace"), age_column()), namespace_cells),
    ("", "services"): Printer((
        name_column(),
        col("Type", "How the Service is exposed."),
        col("Cluster-IP", "The IP address assigned to the service."),
        col("External-IP", "Addresses at which the service is reachable from outside the cluster."),
        col("Port(s)", "The ports exposed by this service."),
        age_column(),
        wide("Selector", "Route service traffic to pods with labels matching this selector."),
    ), service_cells),
    ("", "endpoints"): Printer((
        name_column(), col("Endpoints", "The addresses and ports of the endpoints."), age_column()),
        endpoints_cells),
    ("", "configmaps"): Printer((
        name_column(), col("Data", "The number of keys of data and binaryData."), age_column()), configmap_cells),
    ("", "secrets"): Printer((
        name_column(), col("Type", "Used to facilitate programmatic handling of secret data."),
        col("Data", "The number of keys of data."), age_column()), secret_cells),
    ("", "serviceaccounts"): Printer((
        name_column(), col("Secrets", "The number of secrets this service account may use."), age_column()),
        serviceaccount_cells),
    ("", "events"): Printer(event_columns(), event_cells),
    ("", "resourcequotas"): Printer((
        name_column(),
        col("Request", "Request represents a minimum amount of cpu/memory that a container may consume."),
        col("Limit", "Limits control the maximum amount of cpu/memory that a container may use independent of "
                     "contention on the node."),
        age_column(),
    ), resourcequota_cells),
    ("", "persistentvolumes"): Printer((
        name_column(),
        col("Capacity", "The capacity of the volume."),
        col("Access Modes", "The ways the volume can be mounted."),
        col("Reclaim Policy", "What happens to the volume when released from its claim."),
        col("Status", "The phase of the volume."),
        col("Claim", "The claim bound to this volume."),
        col("StorageClass", "StorageClass of the pv"),
        col("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
        col("Reason", "Why the volume is in this phase."),
        age_column(),
        wide("VolumeMode", "Whether the volume is a formatted filesystem or a raw block device."),
    ), pv_cells),
    ("", "persistentvolumeclaims"): Printer((
        name_column(),
        col("Status", "The phase of the claim."),
        col("Volume", "The volume bound to this claim."),
        col("Capacity", "The capacity of the bound volume."),
        col("Access Modes", "The access modes of the bound volume."),
        col("StorageClass", "StorageClass of the pvc"),
        col("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
        age_column(),
        wide("VolumeMode", "Whether the claim wants a formatted filesystem or a raw block device."),
    ), pvc_cells),
    ("", "replicationcontrollers"): Printer((
        name_column(),
        col("Desired", "The number of desired replicas.", "integer"),
        col("Current", "The most recently observed number of replicas.", "integer"),
        col("Ready", "The number of ready replicas.", "integer"),
        age_column(),
        *container_columns(),
        wide("Selector", "Label query over pods that should match the replicas count."),
    ), rc_cells),
    ("", "podtemplates"): Printer((
        name_column(),
        col("Containers", "Names of each container in the template."),
        col("Images", "Images referenced by each container in the template."),
        col("Pod Labels", "The labels for the pod template."),
    ), podtemplate_cells),
})

"""Printers for the smaller groups: coordination, discovery, events, networking, policy, RBAC, storage,
scheduling, autoscaling and certificates."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from navarch.apiserver.printers import format as f
from navarch.apiserver.printers.core import event_columns, event_row, event_source
from navarch.apiserver.printers.spec import Printer, age_column, col, name_column, wide


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def lease_cells(lease: dict[str, Any], now: float) -> list[Any]:
    return [_name(lease), (lease.get("spec") or {}).get("holderIdentity") or "", f.age(lease, now)]


def endpointslice_cells(es: dict[str, Any], now: float) -> list[Any]:
    ports = es.get("ports") or ()
    port_words = []
    for p in ports[:3]:
        if p.get("port") is not None:
            port_words.append(str(p["port"]))
        elif p.get("name") is not None:
            port_words.append(p["name"])
        else:
            port_words.append("*")
    addresses: list[str] = []
    count = 0
    for ep in es.get("endpoints") or ():
        for a in ep.get("addresses") or ():
            if len(addresses) < 3:
                addresses.append(a)
            count += 1
    return [_name(es), es.get("addressType", ""), f.list_with_more(port_words, len(ports), 3),
            f.list_with_more(addresses, count, 3), f.age(es, now)]


def new_event_cells(ev: dict[str, Any], now: float) -> list[Any]:
    """events.k8s.io/v1 Events, printed through their core equivalents as upstream converts them."""
    regarding = ev.get("regarding") or {}
    src = ev.get("deprecatedSource") or {}
    return event_row(
        _name(ev), now,
        first=ev.get("deprecatedFirstTimestamp"), last=ev.get("deprecatedLastTimestamp"),
        event_time=ev.get("eventTime"), series=ev.get("series"), count=ev.get("deprecatedCount"),
        etype=ev.get("type", ""), reason=ev.get("reason", ""), kind=regarding.get("kind", ""),
        obj_name=regarding.get("name", ""), field_path=regarding.get("fieldPath", ""),
        source=event_source(src.get("component") or ev.get("reportingController") or "",
                            src.get("host") or ev.get("reportingInstance") or ""),
        message=ev.get("note") or "")


def ingress_hosts(rules: list[dict[str, Any]] | None, limit: int = 3) -> str:
    rules = rules or []
    hosts: list[str] = []
    more = False
    for rule in rules:
        if len(hosts) == limit:
            more = True
        if not more and rule.get("host"):
            hosts.append(rule["host"])
    if not hosts:
        return "*"
    text = ",".join(hosts)
    return f"{text} + {len(rules) - limit} more..." if more else text


def ingress_cells(ing: dict[str, Any], now: float) -> list[Any]:
    spec = ing.get("spec") or {}
    return [_name(ing), spec.get("ingressClassName") or f.NONE, ingress_hosts(spec.get("rules")),
            f.ingress_addresses((ing.get("status") or {}).get("loadBalancer")),
            "80, 443" if spec.get("tls") else "80", f.age(ing, now)]


def ingressclass_cells(ic: dict[str, Any], now: float) -> list[Any]:
    spec = ic.get("spec") or {}
    params = spec.get("parameters")
    shown = f.NONE
    if params:
        kind = params.get("kind", "")
        if params.get("apiGroup") is not None:
            kind = f"{kind}.{params['apiGroup']}"
        shown = f"{kind}/{params.get('name', '')}"
    return [_name(ic), spec.get("controller", ""), shown, f.age(ic, now)]


def networkpolicy_cells(np: dict[str, Any], now: float) -> list[Any]:
    return [_name(np), f.format_label_selector((np.get("spec") or {}).get("podSelector")), f.age(np, now)]


def pdb_cells(pdb: dict[str, Any], now: float) -> list[Any]:
    spec = pdb.get("spec") or {}
    min_available = spec.get("minAvailable")
    max_unavailable = spec.get("maxUnavailable")
    return [_name(pdb), "N/A" if min_available is None else str(min_available),
            "N/A" if max_unavailable is None else str(max_unavailable),
            (pdb.get("status") or {}).get("disruptionsAllowed") or 0, f.age(pdb, now)]


def subjects(items: list[dict[str, Any]] | None) -> tuple[str, str, str]:
    """Users, groups and service accounts of a binding (upstream rbac.SubjectsStrings), ", "-joined."""
    users: list[str] = []
    groups: list[str] = []
    sas: list[str] = []
    for s in items or ():
        kind = s.get("kind")
        if kind == "ServiceAccount":
            sas.append(f"{s.get('namespace', '')}/{s.get('name', '')}")
        elif kind == "User":
            users.append(s.get("name", ""))
        elif kind == "Group":
            groups.append(s.get("name", ""))
    return ", ".join(users), ", ".join(groups), ", ".join(sas)


def binding_cells(rb: dict[str, Any], now: float) -> list[Any]:
    ref = rb.get("roleRef") or {}
    users, groups, sas = subjects(rb.get("subjects"))
    return [_name(rb), f"{ref.get('kind', '')}/{ref.get('name', '')}", f.age(rb, now), users, groups, sas]


_DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                              "storageclass.beta.kubernetes.io/is-default-class")


def storageclass_cells(sc: dict[str, Any], now: float) -> list[Any]:
    annotations = (sc.get("metadata") or {}).get("annotations") or {}
    name = _name(sc)
    if any(annotations.get(a) == "true" for a in _DEFAULT_CLASS_ANNOTATIONS):
        name += " (default)"
    return [name, sc.get("provisioner", ""), sc.get("reclaimPolicy") or "Delete",
            sc.get("volumeBindingMode") or "Immediate", bool(sc.get("allowVolumeExpansion")), f.age(sc, now)]


def priorityclass_cells(pc: dict[str, Any], now: float) -> list[Any]:
    return [_name(pc), pc.get("value") or 0, bool(pc.get("globalDefault")), f.age(pc, now),
            pc.get("preemptionPolicy") or ""]


def _q(value: Any) -> str:
    """Quantity.String() of an optional quantity: Go prints a nil one as ``<nil>``."""
    return "<nil>" if value is None else str(value)


def _value_metric(source: dict[str, Any], status: dict[str, Any] | None) -> str:
    """External and Object metrics: an average-value target, or a plain value target."""
    target = source.get("target") or {}
    current_of = ((status or {}).get("current") or {}) if status is not None else None
    if target.get("averageValue") is not None:
        current = f.UNKNOWN
        if current_of is not None and current_of.get("averageValue") is not None:
            current = _q(current_of["averageValue"])
        return f"{current}/{_q(target['averageValue'])} (avg)"
    current = _q(current_of.get("value")) if current_of is not None else f.UNKNOWN
    return f"{current}/{_q(target.get('value'))}"


def _resource_metric(source: dict[str, Any], status: dict[str, Any] | None) -> str:
    target = source.get("target") or {}
    name = source.get("name", "")
    current_of = ((status or {}).get("current") or {}) if status is not None else None
    if target.get("averageValue") is not None:
        current = _q(current_of.get("averageValue")) if current_of is not None else f.UNKNOWN
        return f"{name}: {current}/{_q(target['averageValue'])}"
    current = f.UNKNOWN
    if current_of is not None and current_of.get("averageUtilization") is not None:
        current = f"{current_of['averageUtilization']}%"
    wanted = "<auto>" if target.get("averageUtilization") is None else f"{target['averageUtilization']}%"
    return f"{name}: {current}/{wanted}"


_METRIC_FIELDS = {"External": "external", "Object": "object", "Pods": "pods", "Resource": "resource",
                  "ContainerResource": "containerResource"}


def hpa_metrics(specs: list[dict[str, Any]], statuses: list[dict[str, Any]], limit: int = 2) -> str:
    """Upstream formatHPAMetrics: each spec metric paired with the status metric at the same index."""
    if not specs:
        return f.NONE
    shown: list[str] = []
    for i, spec in enumerate(specs):
        mtype = spec.get("type")
        key = _METRIC_FIELDS.get(mtype or "")
        if key is None:
            shown.append("<unknown type>")
            continue
        source = spec.get(key) or {}
        status = statuses[i].get(key) if i < len(statuses) else None
        if mtype in ("External", "Object"):
            shown.append(_value_metric(source, status))
        elif mtype == "Pods":
            current = _q(((status or {}).get("current") or {}).get("averageValue")) if status is not None else f.UNKNOWN
            shown.append(f"{current}/{_q((source.get('target') or {}).get('averageValue'))}")
        else:
            shown.append(_resource_metric(source, status))
    if len(shown) > limit:
        return f"{', '.join(shown[:limit])} + {len(shown) - limit} more..."
    return ", ".join(shown)


def _v1_cpu_metrics(spec: dict[str, Any], status: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """autoscaling/v1 keeps one CPU target; upstream prints it as the equivalent v2 resource metric."""
    target = spec.get("targetCPUUtilizationPercentage")
    if target is None:
        return [], []
    specs = [{"type": "Resource", "resource": {"name": "cpu", "target": {"averageUtilization": target}}}]
    current = status.get("currentCPUUtilizationPercentage")
    statuses = [] if current is None else [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": current}}}]
    return specs, statuses


def hpa_cells(hpa: dict[str, Any], now: float) -> list[Any]:
    spec = hpa.get("spec") or {}
    status = hpa.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    if "metrics" in spec or "targetCPUUtilizationPercentage" not in spec:
        specs, statuses = spec.get("metrics") or [], status.get("currentMetrics") or []
    else:
        specs, statuses = _v1_cpu_metrics(spec, status)
    min_replicas = spec.get("minReplicas")
    return [_name(hpa), f"{ref.get('kind', '')}/{ref.get('name', '')}", hpa_metrics(specs, statuses),
            "<unset>" if min_replicas is None else str(min_replicas), spec.get("maxReplicas") or 0,
            status.get("currentReplicas") or 0, f.age(hpa, now)]


def csr_condition(csr: dict[str, Any]) -> str:
    status = csr.get("status") or {}
    types = {c.get("type") for c in status.get("conditions") or ()}
    word = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    if "Failed" in types:
        word += ",Failed"
    if status.get("certificate"):
        word += ",Issued"
    return word


def csr_cells(csr: dict[str, Any], now: float) -> list[Any]:
    spec = csr.get("spec") or {}
    seconds = spec.get("expirationSeconds")
    return [_name(csr), f.age(csr, now), spec.get("signerName") or f.NONE, spec.get("username", ""),
            f.NONE if seconds is None else f.human_duration(seconds), csr_condition(csr)]


def _binding_columns(noun: str) -> tuple[Any, ...]:
    return (
        name_column(),
        col("Role", "RoleRef can reference a Role in the current namespace or a ClusterRole in the global "
                    "namespace."),
        age_column(),
        wide("Users", f"Users in the {noun}"),
        wide("Groups", f"Groups in the {noun}"),
        wide("ServiceAccounts", f"ServiceAccounts in the {noun}"),
    )


PRINTERS = MappingProxyType({
    ("coordination.k8s.io", "leases"): Printer((
        name_column(), col("Holder", "The identity of the holder of a current lease."), age_column()), lease_cells),
    ("discovery.k8s.io", "endpointslices"): Printer((
        name_column(),
        col("AddressType", "The type of address carried by this EndpointSlice."),
        col("Ports", "The network ports exposed by each endpoint in this slice."),
        col("Endpoints", "The addresses of the endpoints in this slice."),
        age_column(),
    ), endpointslice_cells),
    ("events.k8s.io", "events"): Printer(event_columns(), new_event_cells),
    ("networking.k8s.io", "ingresses"): Printer((
        name_column(),
        col("Class", "The name of the IngressClass resource that should be used for additional configuration"),
        col("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
        col("Address", "Address is a list containing ingress points for the load-balancer"),
        col("Ports", "Ports of TLS configurations that open"),
        age_column(),
    ), ingress_cells),
    ("networking.k8s.io", "ingressclasses"): Printer((
        name_column(),
        col("Controller", "Controller that is responsible for handling this class"),
        col("Parameters", "A reference to a resource with additional parameters"),
        age_column(),
    ), ingressclass_cells),
    ("networking.k8s.io", "networkpolicies"): Printer((
        name_column(), col("Pod-Selector", "The pods to which this policy applies."), age_column()),
        networkpolicy_cells),
    ("policy", "poddisruptionbudgets"): Printer((
        name_column(),
        col("Min Available", "The minimum number of pods that must be available."),
        col("Max Unavailable", "The maximum number of pods that may be unavailable."),
        col("Allowed Disruptions", "Calculated number of pods that may be disrupted at this time.", "integer"),
        age_column(),
    ), pdb_cells),
    ("rbac.authorization.k8s.io", "rolebindings"): Printer(_binding_columns("roleBinding"), binding_cells),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): Printer(
        _binding_columns("clusterRoleBinding"), binding_cells),
    ("storage.k8s.io", "storageclasses"): Printer((
        name_column(),
        col("Provisioner", "The type of the provisioner."),
        col("ReclaimPolicy", "What happens to dynamically provisioned volumes when released."),
        col("VolumeBindingMode", "When volumes are provisioned and bound."),
        col("AllowVolumeExpansion", "Whether the storage class allows volume expand."),
        age_column(),
    ), storageclass_cells),
    ("scheduling.k8s.io", "priorityclasses"): Printer((
        name_column(),
        col("Value", "The priority value pods of this class receive.", "integer"),
        col("Global-Default", "Whether this class is the default for pods without a priority class.", "boolean"),
        age_column(),
        col("PreemptionPolicy", "The policy for preempting pods with lower priority."),
    ), priorityclass_cells),
    ("autoscaling", "horizontalpodautoscalers"): Printer((
        name_column(),
        col("Reference", "The target resource to scale."),
        col("Targets", "The metrics used to calculate the desired replica count."),
        col("MinPods", "The lower limit for the number of replicas."),
        col("MaxPods", "The upper limit for the number of replicas."),
        col("Replicas", "The current number of replicas of pods managed by this autoscaler."),
        age_column(),
    ), hpa_cells),
    ("certificates.k8s.io", "certificatesigningrequests"): Printer((
        name_column(),
        age_column(),
        col("SignerName", "The requested signer for the request."),
        col("Requestor", "The user that created the request."),
        col("RequestedDuration", "The requested duration of validity of the issued certificate."),
        col("Condition", "The approval state of the request."),
    ), csr_cells),
})

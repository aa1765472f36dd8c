"""A pod's API status, computed from what the runtime reports: pure functions, no I/O.

Matches upstream's ``generateAPIPodStatus`` / ``convertToAPIContainerStatuses`` / ``getPhase`` and
``pkg/kubelet/status/generate.go``: the same phases, condition types and order
(PodReadyToStartContainers, Initialized, Ready, ContainersReady, PodScheduled), reasons
(``ContainersNotReady``, ``ContainersNotInitialized``, ``PodCompleted``, ``PodFailed``) and
messages (``containers with unready status: [a b]``, Go's slice formatting). Conditions the kubelet
does not own (set by the scheduler, the taint manager or readiness-gate controllers) are kept.
``lastTransitionTime`` moves only when a condition's status changes, so computing twice from the
same runtime state gives the same status and the status manager writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping, Sequence

from navarch.kubelet.runtimes.interface import (
    ContainerState,
    ContainerStatus,
    PodSandboxStatus,
    SandboxState,
)

PENDING, RUNNING, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"
TERMINAL_PHASES = (SUCCEEDED, FAILED)

POD_READY_TO_START = "PodReadyToStartContainers"
INITIALIZED = "Initialized"
READY = "Ready"
CONTAINERS_READY = "ContainersReady"
POD_SCHEDULED = "PodScheduled"
# The conditions this component computes; every other type in the pod's status is someone else's.
KUBELET_CONDITIONS = (POD_READY_TO_START, INITIALIZED, READY, CONTAINERS_READY)

UNKNOWN_CONTAINER_STATUSES = "UnknownContainerStatuses"
POD_COMPLETED = "PodCompleted"
POD_FAILED = "PodFailed"
CONTAINERS_NOT_READY = "ContainersNotReady"
CONTAINERS_NOT_INITIALIZED = "ContainersNotInitialized"
READINESS_GATES_NOT_READY = "ReadinessGatesNotReady"

CONTAINER_CREATING = "ContainerCreating"
POD_INITIALIZING = "PodInitializing"


@dataclass(frozen=True)
class PodRuntimeState:
    """What the kubelet knows of one pod's runtime side at one instant.

    ``containers`` maps a container name to its instances, newest first (at most the running or
    last one and the one before it matter). ``waiting`` holds reasons the kubelet itself decided
    for a container that is not running (``CrashLoopBackOff``, ``ErrImagePull``), with messages.
    ``ready``/``started`` are probe results (``prober.ProbeManager.update_pod``) for running
    containers that have readiness/startup probes; a container missing from them is ready and
    started exactly when it runs (no probes). A container that has not started is never ready.
    """

    sandbox: PodSandboxStatus | None = None
    containers: Mapping[str, Sequence[ContainerStatus]] = field(default_factory=dict)
    waiting: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    ready: Mapping[str, bool] = field(default_factory=dict)
    started: Mapping[str, bool] = field(default_factory=dict)


def rfc3339(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def is_restartable_init(container: Mapping[str, Any]) -> bool:
    return container.get("restartPolicy") == "Always"


def generate_pod_status(pod: Mapping[str, Any], state: PodRuntimeState, *, now: datetime,
                        host_ips: Sequence[str], runtime_name: str, terminal: bool = False) -> dict[str, Any]:
    """The status to report. ``terminal``: the pod is done on this node (deleted or finished) and
    its containers will not run again, so the phase is final whatever the restart policy says."""
    spec = pod.get("spec") or {}
    old = pod.get("status") or {}
    init_specs = list(spec.get("initContainers") or [])
    has_init = bool(init_specs)
    default_reason = POD_INITIALIZING if has_init else CONTAINER_CREATING
    prefix = runtime_name + "://"

    init_statuses = [_init_ready(c, container_status(c, state, default_reason, prefix)) for c in init_specs]
    statuses = [container_status(c, state, default_reason, prefix) for c in spec.get("containers") or []]
    all_statuses = init_statuses + statuses

    phase = pod_phase(spec, all_statuses, terminal)
    if old.get("phase") in TERMINAL_PHASES:
        phase = old["phase"]  # the status manager never moves a pod out of a terminal phase

    old_conditions = {c.get("type"): c for c in old.get("conditions") or []}
    ready_to_start = state.sandbox is not None and state.sandbox.state is SandboxState.READY
    generated = [
        {"type": POD_READY_TO_START, "status": "True" if ready_to_start else "False"},
        initialized_condition(spec, all_statuses, phase),
        ready_condition(spec, old.get("conditions") or [], all_statuses, phase),
        containers_ready_condition(spec, all_statuses, phase),
    ]
    conditions = [_stamp(c, old_conditions.get(c["type"]), now) for c in generated]
    scheduled = old_conditions.get(POD_SCHEDULED)
    conditions.append(scheduled if scheduled is not None else
                      _stamp({"type": POD_SCHEDULED, "status": "True"}, None, now))
    conditions.extend(c for t, c in old_conditions.items()
                      if t not in KUBELET_CONDITIONS and t != POD_SCHEDULED)

    status: dict[str, Any] = {"phase": phase, "conditions": conditions}
    if host_ips:
        status["hostIP"] = host_ips[0]
        status["hostIPs"] = [{"ip": ip} for ip in host_ips]
    pod_ips = _pod_ips(spec, state.sandbox, host_ips, old)
    if pod_ips:
        status["podIP"] = pod_ips[0]
        status["podIPs"] = [{"ip": ip} for ip in pod_ips]
    status["startTime"] = old.get("startTime") or rfc3339(now)
    if has_init:
        status["initContainerStatuses"] = init_statuses
    status["containerStatuses"] = statuses
    status["qosClass"] = old.get("qosClass") or qos_class(spec)
    for key in ("message", "reason", "nominatedNodeName", "resize", "resourceClaimStatuses"):
        if key in old:
            status[key] = old[key]
    return status


def container_status(spec: Mapping[str, Any], state: PodRuntimeState, default_reason: str,
                     id_prefix: str) -> dict[str, Any]:
    name = spec.get("name", "")
    instances = state.containers.get(name) or ()
    out: dict[str, Any] = {"name": name, "state": {}, "lastState": {}, "ready": False, "restartCount": 0,
                           "image": spec.get("image", ""), "imageID": "", "started": False}
    override = state.waiting.get(name)
    if not instances:
        reason, message = override or (default_reason, "")
        out["state"] = {"waiting": _waiting(reason, message)}
    else:
        latest = instances[0]
        out["restartCount"] = latest.attempt
        out["imageID"] = latest.image_ref
        out["containerID"] = id_prefix + latest.id
        if latest.state is ContainerState.RUNNING:
            out["state"] = {"running": {"startedAt": rfc3339(latest.started_at or latest.created_at)}}
            out["started"] = state.started.get(name, True)
            out["ready"] = out["started"] and state.ready.get(name, True)
        elif latest.state is ContainerState.EXITED:
            if override is not None:
                out["state"] = {"waiting": _waiting(*override)}
                out["lastState"] = {"terminated": _terminated(latest, id_prefix)}
            else:
                out["state"] = {"terminated": _terminated(latest, id_prefix)}
        elif latest.state is ContainerState.CREATED:
            reason, message = override or (CONTAINER_CREATING, "")
            out["state"] = {"waiting": _waiting(reason, message)}
        else:
            out["state"] = {"waiting": {}}
        if not out["lastState"] and len(instances) > 1 and instances[1].state is ContainerState.EXITED:
            out["lastState"] = {"terminated": _terminated(instances[1], id_prefix)}
    mounts = [_mount_status(m) for m in spec.get("volumeMounts") or []]
    if mounts:
        out["volumeMounts"] = mounts
    return out


def pod_phase(spec: Mapping[str, Any], statuses: Sequence[Mapping[str, Any]], terminal: bool) -> str:
    """Upstream ``getPhase``."""
    by_name = {s["name"]: s for s in statuses}
    pending_init = pending_restartable = failed_init = 0
    init_specs = list(spec.get("initContainers") or [])
    for c in init_specs:
        if is_restartable_init(c):
            continue
        s = by_name.get(c.get("name"))
        st = (s or {}).get("state") or {}
        if s is None or "running" in st:
            pending_init += 1
        elif "terminated" in st:
            if st["terminated"].get("exitCode", 0) != 0:
                failed_init += 1
        elif "waiting" in st:
            last = (s.get("lastState") or {}).get("terminated")
            if last is not None:
                if last.get("exitCode", 0) != 0:
                    failed_init += 1
            else:
                pending_init += 1
        else:
            pending_init += 1

    unknown = running = waiting = stopped = succeeded = 0
    for c in init_specs:
        if not is_restartable_init(c):
            continue
        s = by_name.get(c.get("name"))
        if s is None:
            unknown += 1
            continue
        st = s.get("state") or {}
        if "running" in st:
            if not s.get("started"):
                pending_restartable += 1
            running += 1
        elif "terminated" in st:
            pass
        elif "waiting" in st:
            if (s.get("lastState") or {}).get("terminated") is None:
                pending_restartable += 1
                waiting += 1
        else:
            pending_restartable += 1
            unknown += 1

    for c in spec.get("containers") or []:
        s = by_name.get(c.get("name"))
        if s is None:
            unknown += 1
            continue
        st = s.get("state") or {}
        if "running" in st:
            running += 1
        elif "terminated" in st:
            stopped += 1
            if st["terminated"].get("exitCode", 0) == 0:
                succeeded += 1
        elif "waiting" in st:
            if (s.get("lastState") or {}).get("terminated") is not None:
                stopped += 1
            else:
                waiting += 1
        else:
            unknown += 1

    policy = spec.get("restartPolicy") or "Always"
    if failed_init > 0 and policy == "Never":
        return FAILED
    if pending_init > 0 or (pending_restartable > 0 and not _any_regular_started(spec, by_name)) or waiting > 0:
        return PENDING
    if running > 0 and unknown == 0:
        return RUNNING
    if running == 0 and stopped > 0 and unknown == 0:
        if terminal:
            return SUCCEEDED if stopped == succeeded else FAILED
        if policy == "Always":
            return RUNNING
        if stopped == succeeded:
            return SUCCEEDED
        if policy == "Never":
            return FAILED
        return RUNNING
    return PENDING


def containers_ready_condition(spec: Mapping[str, Any], statuses: Sequence[Mapping[str, Any]],
                               phase: str) -> dict[str, Any]:
    by_name = {s["name"]: s for s in statuses}
    unknown: list[str] = []
    unready: list[str] = []
    wanted = [c for c in spec.get("initContainers") or [] if is_restartable_init(c)] + \
        list(spec.get("containers") or [])
    for c in wanted:
        s = by_name.get(c.get("name"))
        if s is None:
            unknown.append(c.get("name", ""))
        elif not s.get("ready"):
            unready.append(c.get("name", ""))
    if (phase == SUCCEEDED and not unknown) or phase == FAILED:
        return {"type": CONTAINERS_READY, "status": "False",
                "reason": POD_COMPLETED if phase == SUCCEEDED else POD_FAILED}
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_go_list(unknown)}")
    if unready:
        messages.append(f"containers with unready status: {_go_list(unready)}")
    if messages:
        return {"type": CONTAINERS_READY, "status": "False", "reason": CONTAINERS_NOT_READY,
                "message": ", ".join(messages)}
    return {"type": CONTAINERS_READY, "status": "True"}


def ready_condition(spec: Mapping[str, Any], conditions: Iterable[Mapping[str, Any]],
                    statuses: Sequence[Mapping[str, Any]], phase: str) -> dict[str, Any]:
    cr = containers_ready_condition(spec, statuses, phase)
    if cr["status"] != "True":
        return {**cr, "type": READY}
    by_type = {c.get("type"): c for c in conditions}
    messages = []
    for gate in spec.get("readinessGates") or []:
        ctype = gate.get("conditionType", "")
        c = by_type.get(ctype)
        if c is None:
            messages.append(f'corresponding condition of pod readiness gate "{ctype}" does not exist.')
        elif c.get("status") != "True":
            messages.append(f'the status of pod readiness gate "{ctype}" is not "True", but {c.get("status")}')
    if messages:
        return {"type": READY, "status": "False", "reason": READINESS_GATES_NOT_READY, "message": ", ".join(messages)}
    return {"type": READY, "status": "True"}


def initialized_condition(spec: Mapping[str, Any], statuses: Sequence[Mapping[str, Any]],
                          phase: str) -> dict[str, Any]:
    by_name = {s["name"]: s for s in statuses}
    unknown: list[str] = []
    incomplete: list[str] = []
    for c in spec.get("initContainers") or []:
        s = by_name.get(c.get("name"))
        if s is None:
            unknown.append(c.get("name", ""))
            continue
        done = s.get("started") if is_restartable_init(c) else _init_succeeded(s)
        if not done:
            incomplete.append(c.get("name", ""))
    if phase == SUCCEEDED and not unknown:
        return {"type": INITIALIZED, "status": "True", "reason": POD_COMPLETED}
    if _any_regular_started(spec, by_name):
        return {"type": INITIALIZED, "status": "True"}
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_go_list(unknown)}")
    if incomplete:
        messages.append(f"containers with incomplete status: {_go_list(incomplete)}")
    if messages:
        return {"type": INITIALIZED, "status": "False", "reason": CONTAINERS_NOT_INITIALIZED,
                "message": ", ".join(messages)}
    return {"type": INITIALIZED, "status": "True"}


def qos_class(spec: Mapping[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort (upstream ``GetPodQOS``), comparing quantities by value."""
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req = {k: _quantity(v) for k, v in (res.get("requests") or {}).items() if k in ("cpu", "memory")}
        lim = {k: _quantity(v) for k, v in (res.get("limits") or {}).items() if k in ("cpu", "memory")}
        for k, v in req.items():
            if v is not None and v != 0:
                requests[k] = requests.get(k, Decimal(0)) + v
        for k, v in lim.items():
            if v is not None and v != 0:
                limits[k] = limits.get(k, Decimal(0)) + v
        if any(k not in lim or not lim[k] for k in ("cpu", "memory")):
            guaranteed = False
        for k in ("cpu", "memory"):
            if k in req and req[k] is not None and k in lim and req[k] != lim[k]:
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


# ---- helpers --------------------------------------------------------------------------------------

def _stamp(cond: dict[str, Any], old: Mapping[str, Any] | None, now: datetime) -> dict[str, Any]:
    """The transition time moves only on a change. Upstream also prints ``lastProbeTime: null``; a
    null cannot travel in a merge patch (it means "remove"), so it is left out, as the API would
    store it anyway."""
    if old is not None and old.get("status") == cond["status"] and old.get("lastTransitionTime"):
        when = old["lastTransitionTime"]
    else:
        when = rfc3339(now)
    return {"type": cond["type"], "status": cond["status"], "lastTransitionTime": when,
            **{k: cond[k] for k in ("reason", "message") if cond.get(k)}}


def _waiting(reason: str, message: str) -> dict[str, str]:
    out = {"reason": reason} if reason else {}
    if message:
        out["message"] = message
    return out


def _terminated(c: ContainerStatus, id_prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {"exitCode": c.exit_code, "reason": c.reason or ("Completed" if c.exit_code == 0 else "Error")}
    if c.message:
        out["message"] = c.message
    if c.started_at:
        out["startedAt"] = rfc3339(c.started_at)
    if c.finished_at:
        out["finishedAt"] = rfc3339(c.finished_at)
    out["containerID"] = id_prefix + c.id
    return out


def _mount_status(m: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": m.get("name", ""), "mountPath": m.get("mountPath", "")}
    if m.get("readOnly"):
        out["readOnly"] = True
        out["recursiveReadOnly"] = "Disabled"
    return out


def _init_ready(spec: Mapping[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """Upstream's prober manager reports an init container that completed (exit 0) as ready;
    sidecars are ready as regular containers are (running, started, readiness probe passed)."""
    if not is_restartable_init(spec) and _init_succeeded(status):
        status["ready"] = True
    return status


def _init_succeeded(s: Mapping[str, Any]) -> bool:
    term = (s.get("state") or {}).get("terminated")
    return term is not None and term.get("exitCode", 0) == 0


def _any_regular_started(spec: Mapping[str, Any], by_name: Mapping[str, Mapping[str, Any]]) -> bool:
    for c in spec.get("containers") or []:
        s = by_name.get(c.get("name"))
        if s is None:
            continue
        st = s.get("state") or {}
        if "running" in st or "terminated" in st or (s.get("lastState") or {}).get("terminated") is not None:
            return True
    return False


def _pod_ips(spec: Mapping[str, Any], sandbox: PodSandboxStatus | None, host_ips: Sequence[str],
             old: Mapping[str, Any]) -> list[str]:
    if spec.get("hostNetwork"):
        return list(host_ips)
    if sandbox is not None and sandbox.state is SandboxState.READY and sandbox.ip:
        return [sandbox.ip, *sandbox.additional_ips]
    # A stopped sandbox has given its address back; the pod keeps reporting the one it had.
    return [p["ip"] for p in old.get("podIPs") or [] if p.get("ip")] or ([old["podIP"]] if old.get("podIP") else [])


def _go_list(items: Sequence[str]) -> str:
    return "[" + " ".join(items) + "]"


_SUFFIX: dict[str, Decimal | int] = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
           "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": 10**3, "M": 10**6,
           "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


def _quantity(value: Any) -> Decimal | None:
    text = str(value).strip()
    for suffix in sorted(_SUFFIX, key=len, reverse=True):
        if text.endswith(suffix) and not text.endswith("e" + suffix):
            try:
                return Decimal(text[: -len(suffix)]) * Decimal(_SUFFIX[suffix])
            except InvalidOperation:
                return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None

"""Pure Deployment arithmetic and bookkeeping (upstream's ``pkg/controller/deployment/util``).

No I/O here: which ReplicaSet is new, the surge and unavailability fenceposts, proportional scaling,
revision and replica annotations, conditions, and the template hash. Objects are plain dicts; the
functions that change one say so and only ever receive copies.
"""

from __future__ import annotations

import functools
import math
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Sequence

import orjson

from navarch.controllers import workload

Obj = Mapping[str, Any]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
HASH_LABEL = "pod-template-hash"
# Upstream caps the revision-history annotation at this many characters.
MAX_REV_HISTORY_CHARS = 2000
# progressDeadlineSeconds == MaxInt32 means "no deadline" (the apps/v1beta1 default).
NO_DEADLINE = 2**31 - 1

AVAILABLE, PROGRESSING, REPLICA_FAILURE = "Available", "Progressing", "ReplicaFailure"
# Reasons of the Progressing condition.
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
FAILED_RS_CREATE = "ReplicaSetCreateError"
# Reasons of the Available condition.
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"

_SKIP_COPY = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO})
# The alphabet of upstream's rand.SafeEncodeString: no vowels, no look-alike digits.
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


# ---- reading fields ----------------------------------------------------------------------------


def replicas(obj: Obj | None) -> int:
    """``spec.replicas`` (defaulted to 1 by the API server, so 1 when absent)."""
    if obj is None:
        return 0
    return int(workload.spec(obj).get("replicas", 1))


def status_count(obj: Obj | None, field: str) -> int:
    return 0 if obj is None else int(workload.status(obj).get(field) or 0)


def annotations_of(obj: Obj | None) -> Mapping[str, str]:
    return {} if obj is None else (workload.meta(obj).get("annotations") or {})


def uid(obj: Obj | None) -> str:
    return "" if obj is None else str(workload.meta(obj).get("uid") or "")


def name(obj: Obj) -> str:
    return str(workload.meta(obj).get("name") or "")


def strategy_type(d: Obj) -> str:
    return str((workload.spec(d).get("strategy") or {}).get("type") or "RollingUpdate")


def is_rolling_update(d: Obj) -> bool:
    return strategy_type(d) == "RollingUpdate"


def has_progress_deadline(d: Obj) -> bool:
    pds = workload.spec(d).get("progressDeadlineSeconds")
    return pds is not None and int(pds) != NO_DEADLINE


def min_ready_seconds(obj: Obj) -> int:
    return int(workload.spec(obj).get("minReadySeconds") or 0)


# ---- fenceposts --------------------------------------------------------------------------------


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """An IntOrString against ``total``: percentages round up for surge and down for unavailability
    (intstr.GetScaledValueFromIntOrPercent)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise ValueError(f"invalid value for IntOrString: {value!r}")
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        raise ValueError(f"invalid value for IntOrString: invalid type: string is not a percentage")
    pct = int(text[:-1])
    exact = pct * total
    return -(-exact // 100) if round_up else exact // 100


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None, desired: int) -> tuple[int, int]:
    """(surge, unavailable) as absolute pod counts. Both zero would deadlock a rollout, so
    unavailability becomes 1 then, as upstream (validation forbids it, but old objects exist)."""
    surge = scaled_value(max_surge, desired, True)
    unavailable = scaled_value(max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _rolling_params(d: Obj) -> tuple[Any, Any]:
    ru = (workload.spec(d).get("strategy") or {}).get("rollingUpdate") or {}
    # apps/v1 defaults both to 25%; an object without them was never defaulted.
    return ru.get("maxSurge", "25%"), ru.get("maxUnavailable", "25%")


def max_surge(d: Obj) -> int:
    if not is_rolling_update(d):
        return 0
    surge, unavail = _rolling_params(d)
    return resolve_fenceposts(surge, unavail, replicas(d))[0]


def max_unavailable(d: Obj) -> int:
    if not is_rolling_update(d) or replicas(d) == 0:
        return 0
    surge, unavail = _rolling_params(d)
    return min(resolve_fenceposts(surge, unavail, replicas(d))[1], replicas(d))


# ---- replica set lists -------------------------------------------------------------------------


def _cmp_created(a: Obj, b: Obj) -> int:
    ta, tb = workload.meta(a).get("creationTimestamp") or "", workload.meta(b).get("creationTimestamp") or ""
    ca, cb = workload.parse_time(ta), workload.parse_time(tb)
    if ca == cb:
        na, nb = name(a), name(b)
        return (na > nb) - (na < nb)
    if ca is None or cb is None:
        return -1 if ca is None else 1
    return -1 if ca < cb else 1


def by_creation(rss: Iterable[Obj]) -> list[Obj]:
    """Oldest first, names breaking ties (ReplicaSetsByCreationTimestamp)."""
    return sorted(rss, key=functools.cmp_to_key(_cmp_created))


def by_size_older(rss: Iterable[Obj]) -> list[Obj]:
    """Largest first; among equals the oldest first (ReplicaSetsBySizeOlder)."""
    def cmp(a: Obj, b: Obj) -> int:
        if replicas(a) == replicas(b):
            return _cmp_created(a, b)
        return -1 if replicas(a) > replicas(b) else 1
    return sorted(rss, key=functools.cmp_to_key(cmp))


def by_size_newer(rss: Iterable[Obj]) -> list[Obj]:
    """Largest first; among equals the newest first (ReplicaSetsBySizeNewer)."""
    def cmp(a: Obj, b: Obj) -> int:
        if replicas(a) == replicas(b):
            return _cmp_created(b, a)
        return -1 if replicas(a) > replicas(b) else 1
    return sorted(rss, key=functools.cmp_to_key(cmp))


def by_revision(rss: Iterable[Obj]) -> list[Obj]:
    """Lowest revision first; creation time breaks ties (ReplicaSetsByRevision)."""
    def cmp(a: Obj, b: Obj) -> int:
        ra, rb = revision_or_zero(a), revision_or_zero(b)
        if ra == rb:
            return _cmp_created(a, b)
        return -1 if ra < rb else 1
    return sorted(rss, key=functools.cmp_to_key(cmp))


def active(rss: Iterable[Obj | None]) -> list[Obj]:
    """ReplicaSets that have, or ought to have, pods."""
    return [rs for rs in rss if rs is not None and replicas(rs) > 0]


def present(rss: Iterable[Obj | None]) -> list[Obj]:
    return [rs for rs in rss if rs is not None]


def spec_replica_count(rss: Iterable[Obj | None]) -> int:
    return sum(replicas(rs) for rs in present(rss))


def actual_replica_count(rss: Iterable[Obj | None]) -> int:
    return sum(status_count(rs, "replicas") for rs in present(rss))


def ready_replica_count(rss: Iterable[Obj | None]) -> int:
    return sum(status_count(rs, "readyReplicas") for rs in present(rss))


def available_replica_count(rss: Iterable[Obj | None]) -> int:
    return sum(status_count(rs, "availableReplicas") for rs in present(rss))


# ---- templates and the hash --------------------------------------------------------------------


def _semantic(value: Any) -> Any:
    """Drop nulls and empty maps and lists: apimachinery's semantic equality treats nil and empty alike."""
    if isinstance(value, Mapping):
        out = {k: _semantic(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def without_hash(template: Obj | None) -> Any:
    t = _semantic(dict(template or {}))
    labels = (t.get("metadata") or {}).get("labels")
    if labels and HASH_LABEL in labels:
        labels = {k: v for k, v in labels.items() if k != HASH_LABEL}
        meta = {**t["metadata"], "labels": labels}
        if not labels:
            del meta["labels"]
        t = {**t, "metadata": meta}
        if not meta:
            del t["metadata"]
    return t


def equal_ignore_hash(t1: Obj | None, t2: Obj | None) -> bool:
    """Whether two pod templates differ only in the ``pod-template-hash`` label."""
    return without_hash(t1) == without_hash(t2)


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    return "".join(_SAFE[ord(c) % len(_SAFE)] for c in text)


def compute_hash(template: Obj, collision_count: int | None = None) -> str:
    """The ``pod-template-hash`` of a template: FNV-32a over its canonical JSON (sorted keys, nulls and
    empty values dropped so equal templates hash alike) plus the collision count, printed in decimal
    and spelt in upstream's safe alphabet. Stable across processes and restarts."""
    data = orjson.dumps(_semantic(dict(template)), option=orjson.OPT_SORT_KEYS)
    if collision_count is not None:
        data += b"#" + str(int(collision_count)).encode()
    return safe_encode(str(fnv32a(data)))


def find_new_replicaset(d: Obj, rss: Iterable[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template equals the Deployment's (ignoring the hash label): with
    several (a past bug could make them), the oldest wins so the choice is stable."""
    template = workload.spec(d).get("template")
    for rs in by_creation(rss):
        if equal_ignore_hash(workload.spec(rs).get("template"), template):
            return rs
    return None


def find_old_replicasets(d: Obj, rss: Sequence[Obj]) -> tuple[list[Obj], list[Obj]]:
    """(old ReplicaSets with pods, all old ReplicaSets)."""
    new = find_new_replicaset(d, rss)
    new_uid = uid(new) if new is not None else None
    all_old = [rs for rs in rss if uid(rs) != new_uid]
    return [rs for rs in all_old if replicas(rs) != 0], all_old


# ---- revisions and annotations -----------------------------------------------------------------


def revision(obj: Obj) -> int:
    """The revision annotation; raises ValueError when absent or not a number."""
    return int(str(annotations_of(obj).get(REVISION)))


def revision_or_zero(obj: Obj) -> int:
    try:
        return revision(obj)
    except (TypeError, ValueError):
        return 0


def max_revision(rss: Iterable[Obj | None]) -> int:
    return max((revision_or_zero(rs) for rs in present(rss)), default=0)


def last_revision(rss: Iterable[Obj | None]) -> int:
    """The second-highest revision: where ``rollback`` to revision 0 goes."""
    top = second = 0
    for rs in present(rss):
        v = revision_or_zero(rs)
        if v >= top:
            top, second = v, top
        elif v > second:
            second = v
    return second


def _ensure_annotations(obj: dict[str, Any]) -> dict[str, str]:
    meta = obj.setdefault("metadata", {})
    if meta.get("annotations") is None:
        meta["annotations"] = {}
    return meta["annotations"]


def copy_deployment_annotations(d: Obj, rs: dict[str, Any]) -> bool:
    """Copy the Deployment's own annotations onto ``rs`` (not the ones the controller manages)."""
    changed = False
    rs_ann = _ensure_annotations(rs)
    for k, v in annotations_of(d).items():
        if k in _SKIP_COPY or rs_ann.get(k) == v:
            continue
        rs_ann[k] = v
        changed = True
    return changed


def set_new_replicaset_annotations(d: Obj, rs: dict[str, Any], new_revision: str, exists: bool,
                                   history_limit: int = MAX_REV_HISTORY_CHARS) -> bool:
    """Stamp the new ReplicaSet: the Deployment's annotations, the revision (raised to
    ``new_revision``, recording the old one in revision-history when a rollback moves an old
    ReplicaSet forward) and, on creation, the replica annotations. Mutates ``rs``; True if changed."""
    changed = copy_deployment_annotations(d, rs)
    ann = _ensure_annotations(rs)
    old_revision = ann.get(REVISION)
    try:
        old_int = int(old_revision) if old_revision else 0
        new_int = int(new_revision)
    except ValueError:
        return False
    if old_int < new_int:
        ann[REVISION] = new_revision
        changed = True
    if old_revision and old_int < new_int:
        history = ann.get(REVISION_HISTORY, "")
        olds = history.split(",")
        if not olds[0]:
            ann[REVISION_HISTORY] = old_revision
        else:
            total = len(history) + len(old_revision) + 1
            start = 0
            while total > history_limit and start < len(olds):
                total -= len(olds[start]) + 1
                start += 1
            if total <= history_limit:
                ann[REVISION_HISTORY] = ",".join(olds[start:] + [old_revision])
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


def set_deployment_revision(d: dict[str, Any], rev: str) -> bool:
    ann = _ensure_annotations(d)
    if ann.get(REVISION) == rev:
        return False
    ann[REVISION] = rev
    return True


def replicas_annotations_need_update(rs: Obj, desired: int, max_replicas: int) -> bool:
    ann = annotations_of(rs)
    return ann.get(DESIRED_REPLICAS) != str(desired) or ann.get(MAX_REPLICAS) != str(max_replicas)


def set_replicas_annotations(rs: dict[str, Any], desired: int, max_replicas: int) -> bool:
    ann = _ensure_annotations(rs)
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(max_replicas))):
        if ann.get(key) != value:
            ann[key] = value
            changed = True
    return changed


def _int_annotation(rs: Obj, key: str) -> int | None:
    try:
        return int(str(annotations_of(rs)[key]))
    except (KeyError, ValueError):
        return None


def desired_replicas_annotation(rs: Obj) -> int | None:
    return _int_annotation(rs, DESIRED_REPLICAS)


def max_replicas_annotation(rs: Obj) -> int | None:
    return _int_annotation(rs, MAX_REPLICAS)


def set_annotations_from_rollback(d: dict[str, Any], rs: Obj) -> None:
    """A rollback copies the target ReplicaSet's annotations back onto the Deployment, except the
    ones the controller manages (upstream SetDeploymentAnnotationsTo)."""
    ann = _ensure_annotations(d)
    for k in list(ann):
        if k not in _SKIP_COPY:
            del ann[k]
    for k, v in annotations_of(rs).items():
        if k not in _SKIP_COPY:
            ann[k] = v


# ---- sizes -------------------------------------------------------------------------------------


def new_rs_new_replicas(d: Obj, all_rss: Sequence[Obj | None], new_rs: Obj) -> int:
    """How big the new ReplicaSet may grow now: up to the surge bound for RollingUpdate, straight to
    ``replicas`` for Recreate."""
    if is_rolling_update(d):
        surge_value, _ = _rolling_params(d)
        surge = scaled_value(surge_value, replicas(d), True)
        current = spec_replica_count(all_rss)
        max_total = replicas(d) + surge
        if current >= max_total:
            return replicas(new_rs)
        return replicas(new_rs) + min(max_total - current, replicas(d) - replicas(new_rs))
    if strategy_type(d) == "Recreate":
        return replicas(d)
    raise ValueError(f"deployment type {strategy_type(d)} isn't supported")


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    """The ReplicaSet alone runs the whole Deployment, all available."""
    if rs is None:
        return False
    desired = desired_replicas_annotation(rs)
    if desired is None:
        return False
    want = replicas(d)
    return replicas(rs) == want and desired == want and status_count(rs, "availableReplicas") == want


def find_active_or_latest(new_rs: Obj | None, old_rss: Sequence[Obj]) -> Obj | None:
    """The one ReplicaSet that should take a plain scale, if there is exactly one active (or none, in
    which case the newest); None when several are active (a rollout is under way)."""
    if new_rs is None and not old_rss:
        return None
    newest_old = list(reversed(by_creation(old_rss)))
    live = active(newest_old + [new_rs])
    if not live:
        return new_rs if new_rs is not None else newest_old[0]
    if len(live) == 1:
        return live[0]
    return None


def round_half_away(x: float) -> int:
    """Go's math.Round: halves away from zero (Python's round is banker's)."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def replicaset_fraction(rs: Obj, d: Obj) -> int:
    """How many replicas ``rs`` gains (or loses) when the Deployment's size changes, in proportion to
    its share of the size recorded in its max-replicas annotation."""
    if replicas(d) == 0:
        return -replicas(rs)
    deployment_replicas = replicas(d) + max_surge(d)
    annotated = max_replicas_annotation(rs)
    if annotated is None:
        # No record of the previous size: the observed status is the best estimate.
        annotated = status_count(d, "replicas")
    if annotated == 0:
        return 0
    return round_half_away(replicas(rs) * deployment_replicas / annotated) - replicas(rs)


def proportion(rs: Obj | None, d: Obj, to_add: int, added: int) -> int:
    if rs is None or replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = replicaset_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def proportional_sizes(d: Obj, rss: Sequence[Obj]) -> tuple[dict[str, int], str]:
    """New sizes for the active ReplicaSets of a RollingUpdate Deployment being scaled mid-rollout:
    each keeps its share, bigger ones first, the rounding leftover going to the first one
    (upstream's scale()). Returns (name -> size, "up"|"down"|"")."""
    live = active(rss)
    allowed = replicas(d) + max_surge(d) if replicas(d) > 0 else 0
    to_add = allowed - spec_replica_count(live)
    operation = ""
    if to_add > 0:
        live, operation = by_size_newer(live), "up"
    elif to_add < 0:
        live, operation = by_size_older(live), "down"
    sizes: dict[str, int] = {}
    added = 0
    for rs in live:
        if to_add != 0:
            p = proportion(rs, d, to_add, added)
            sizes[name(rs)] = replicas(rs) + p
            added += p
        else:
            sizes[name(rs)] = replicas(rs)
    if added != to_add and live:
        first = name(live[0])
        sizes[first] = max(sizes[first] + to_add - added, 0)
    return sizes, operation


# ---- conditions --------------------------------------------------------------------------------


def new_condition(type_: str, status_: str, reason: str, message: str, now: datetime) -> dict[str, Any]:
    ts = workload.timestamp(now)
    return {"type": type_, "status": status_, "lastUpdateTime": ts, "lastTransitionTime": ts,
            "reason": reason, "message": message}


def get_condition(status: Mapping[str, Any], type_: str) -> dict[str, Any] | None:
    for c in status.get("conditions") or []:
        if c.get("type") == type_:
            return c
    return None


def set_condition(status: dict[str, Any], cond: dict[str, Any]) -> None:
    """Upstream SetDeploymentCondition: same status and reason is a no-op (message and times kept);
    same status keeps lastTransitionTime; the changed condition moves to the end."""
    current = get_condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != cond["type"]] + [cond]


def remove_condition(status: dict[str, Any], type_: str) -> None:
    conds = [c for c in status.get("conditions") or [] if c.get("type") != type_]
    if conds:
        status["conditions"] = conds
    else:
        status.pop("conditions", None)


def rs_condition_to_deployment(cond: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": cond.get("type"), "status": cond.get("status"),
            "lastUpdateTime": cond.get("lastTransitionTime"), "lastTransitionTime": cond.get("lastTransitionTime"),
            "reason": cond.get("reason", ""), "message": cond.get("message", "")}


# ---- progress ----------------------------------------------------------------------------------


def deployment_complete(d: Obj, status: Mapping[str, Any]) -> bool:
    want = replicas(d)
    return (int(status.get("updatedReplicas") or 0) == want and int(status.get("replicas") or 0) == want
            and int(status.get("availableReplicas") or 0) == want
            and int(status.get("observedGeneration") or 0) >= int(workload.meta(d).get("generation") or 0))


def deployment_progressing(d: Obj, new: Mapping[str, Any]) -> bool:
    """Any sign of progress since the status the Deployment carries."""
    old = workload.status(d)

    def n(s: Mapping[str, Any], f: str) -> int:
        return int(s.get(f) or 0)

    old_old = n(old, "replicas") - n(old, "updatedReplicas")
    new_old = n(new, "replicas") - n(new, "updatedReplicas")
    return (n(new, "updatedReplicas") > n(old, "updatedReplicas") or new_old < old_old
            or n(new, "readyReplicas") > n(old, "readyReplicas")
            or n(new, "availableReplicas") > n(old, "availableReplicas"))


def deployment_timed_out(d: Obj, new: Mapping[str, Any], now: datetime) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = get_condition(new, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = workload.parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return False
    return since + timedelta(seconds=int(workload.spec(d)["progressDeadlineSeconds"])) < now


# ---- labels ------------------------------------------------------------------------------------


def with_label(labels: Mapping[str, str] | None, key: str, value: str) -> dict[str, str]:
    return {**(labels or {}), key: value}


def selector_with_label(selector: Mapping[str, Any] | None, key: str, value: str) -> dict[str, Any]:
    sel = dict(selector or {})
    sel["matchLabels"] = with_label(sel.get("matchLabels"), key, value)
    return sel

"""The HorizontalPodAutoscaler controller (autoscaling/v2) over the ``scale`` subresource.

As upstream's ``pkg/controller/podautoscaler``, every HPA is reconciled every sync period (15 s):
read the target's scale (its replicas and pod selector), compute a replica count per metric from
the ``metrics.k8s.io/v1beta1`` PodMetrics, take the largest, stabilize it (scale down only to the
highest recommendation of the last ``stabilizationWindowSeconds``, 300 s by default), clamp it to
``minReplicas``/``maxReplicas`` and write the scale. When the resource metrics API is not served,
the HPA says so in ``ScalingActive=False`` (reason FailedGetResourceMetric) and leaves the target alone.

Supported metric sources: ``Resource`` (Utilization and AverageValue targets). Others report
``ScalingActive=False`` with a clear reason. Not yet: the scale-up/scale-down rate ``policies``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import orjson

from navarch.client.errors import ApiError, is_not_found
from navarch.controllers import workload as wl
from navarch.controllers.base import ControllerContext, QueueController
from navarch.machinery.cache import split_key
from navarch.machinery.events import NORMAL, WARNING
from navarch.machinery.listers import as_label_selector

HPAS, PODS = "autoscaling/v2/horizontalpodautoscalers", "v1/pods"
METRICS_API = "/apis/metrics.k8s.io/v1beta1"
TOLERANCE = 0.1
SYNC_PERIOD = 15.0
DOWNSCALE_STABILIZATION = 300.0
# Without ``behavior``, upstream caps one step up at max(2 * current, 4).
SCALE_UP_FACTOR, SCALE_UP_MINIMUM = 2.0, 4

Obj = Mapping[str, Any]

_SUFFIXES = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
             "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
             "P": Decimal(10) ** 15, "E": Decimal(10) ** 18, "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20,
             "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60}


class MetricsError(Exception):
    """The replica count could not be computed; the message is what the HPA's condition says."""


def parse_quantity(value: Any) -> Decimal:
    """A resource.Quantity (``250m``, ``1Gi``, ``1e3``) as a number of base units."""
    text = str(value).strip()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if suffix and text.endswith(suffix):
            try:
                return Decimal(text[:-len(suffix)]) * _SUFFIXES[suffix]
            except InvalidOperation:
                break
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"invalid quantity {value!r}") from None


@dataclass(frozen=True)
class PodSample:
    """One pod as the replica calculation sees it: ``state`` is ready, unready (pending or not yet
    ready) or ignored (deleted or failed); ``usage`` None when the metrics API had nothing for it."""

    name: str
    state: str
    usage: float | None
    request: float


def resource_replicas(current: int, pods: list[PodSample], target: float, utilization: bool,
                      tolerance: float = TOLERANCE) -> tuple[int, float]:
    """(replicas, current metric) for a Resource metric, as upstream GetResourceReplicas: usage of
    ready pods with metrics against the target; missing pods are assumed at 100% when scaling down
    and 0% when scaling up, unready ones at 0% when scaling up, and a change that these assumptions
    would reverse or shrink into the tolerance is not made."""
    ready = [p for p in pods if p.state == "ready" and p.usage is not None]
    missing = [p for p in pods if p.state == "ready" and p.usage is None]
    unready = [p for p in pods if p.state == "unready"]
    if not ready:
        raise MetricsError("did not receive metrics for targeted pods (pods might be unready)")

    def ratio(samples: list[tuple[float, float]]) -> tuple[float, float]:
        usage = sum(u for u, _ in samples)
        if utilization:
            requests = sum(r for _, r in samples)
            if requests <= 0:
                raise MetricsError("missing request for the resource")
            value = usage * 100 / requests
        else:
            value = usage / len(samples)
        return value / target, value

    base = [(p.usage or 0.0, p.request) for p in ready]
    usage_ratio, value = ratio(base)
    scale_up_with_unready = bool(unready) and usage_ratio > 1.0
    if not scale_up_with_unready and not missing:
        if abs(1.0 - usage_ratio) <= tolerance:
            return current, value
        return math.ceil(usage_ratio * len(ready)), value
    extra: list[tuple[float, float]] = []
    for p in missing:
        assumed = p.request if usage_ratio < 1.0 else 0.0
        extra.append((assumed if utilization else (target if usage_ratio < 1.0 else 0.0), p.request))
    if scale_up_with_unready:
        extra += [(0.0, p.request) for p in unready]
    new_ratio, _ = ratio(base + extra)
    if abs(1.0 - new_ratio) <= tolerance or (usage_ratio < 1.0 < new_ratio) or (usage_ratio > 1.0 > new_ratio):
        return current, value
    replicas = math.ceil(new_ratio * len(base + extra))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current, value
    return replicas, value


def stabilize(recommendations: list[tuple[datetime, int]], now: datetime, current: int, desired: int,
              up_window: float, down_window: float) -> int:
    """Upstream stabilizeRecommendationWithBehaviors: never scale up past the lowest, nor down past
    the highest, recommendation within the respective window."""
    up, down = desired, desired
    for at, rec in recommendations:
        age = (now - at).total_seconds()
        if age <= up_window:
            up = min(up, rec)
        if age <= down_window:
            down = max(down, rec)
    result = current
    result = max(result, up)
    result = min(result, down)
    return result


def clamp(desired: int, current: int, min_replicas: int, max_replicas: int, has_behavior: bool) -> tuple[int, str, str]:
    """(replicas, ScalingLimited reason, message) after the bounds (and the legacy scale-up cap)."""
    top = max_replicas
    if not has_behavior:
        top = min(top, max(int(SCALE_UP_FACTOR * current), SCALE_UP_MINIMUM))
    if desired > top:
        if top < max_replicas:
            return top, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
        return top, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
    if desired < min_replicas:
        return min_replicas, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"


class HorizontalPodAutoscalerController(QueueController):
    name: ClassVar[str] = "horizontalpodautoscaling"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.hpas = self.factory.lister(HPAS)
        self.pods = self.factory.lister(PODS)
        self.sync_period = float(ctx.options.get("horizontal-pod-autoscaler-sync-period", SYNC_PERIOD))
        self.downscale_window = float(ctx.options.get("horizontal-pod-autoscaler-downscale-stabilization",
                                                      DOWNSCALE_STABILIZATION))
        self.tolerance = float(ctx.options.get("horizontal-pod-autoscaler-tolerance", TOLERANCE))
        self._recommendations: dict[str, list[tuple[datetime, int]]] = {}
        self.factory.informer(HPAS).add_event_handler(self.enqueue, lambda old, new: self.enqueue(new),
                                                      self._deleted)

    def _deleted(self, obj: Any) -> None:
        m = wl.meta(obj)
        self._recommendations.pop(f"{m.get('namespace')}/{m.get('name')}", None)

    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        hpa = self.hpas.get(ns, name)
        if hpa is None:
            self._recommendations.pop(key, None)
            return
        try:
            await self._reconcile(key, hpa)
        finally:
            self.queue.add_after(key, self.sync_period)

    async def _reconcile(self, key: str, hpa: Obj) -> None:
        now = self.clock.now()
        hspec = wl.spec(hpa)
        st = dict(wl.status(hpa))
        conditions = [dict(c) for c in st.get("conditions") or []]
        ref = hspec.get("scaleTargetRef") or {}
        target = self._target_resource(ref)
        try:
            if target is None:
                raise ApiError({"code": 404, "reason": "NotFound",
                                "message": f"no matches for kind \"{ref.get('kind')}\" in group \"{ref.get('apiVersion')}\""})
            scale = await self.client.get(target, ref.get("name", ""), wl.meta(hpa)["namespace"], subresource="scale")
        except ApiError as e:
            msg = f"the HPA controller was unable to get the target's current scale: {e.message}"
            self.recorder.event(hpa, WARNING, "FailedGetScale", e.message)
            conditions = wl.set_condition(conditions, "AbleToScale", "False", "FailedGetScale", msg, now)
            await self._write(hpa, {**st, "conditions": conditions})
            return
        conditions = wl.set_condition(conditions, "AbleToScale", "True", "SucceededGetScale",
                                      "the HPA controller was able to get the target's current scale", now)
        current = int(wl.spec(scale).get("replicas") or 0)
        min_r, max_r = int(hspec.get("minReplicas", 1)), int(hspec["maxReplicas"])
        st["currentReplicas"] = current
        reason = ""
        if current == 0 and min_r != 0:
            desired = 0
            conditions = wl.set_condition(conditions, "ScalingActive", "False", "ScalingDisabled",
                                          "scaling is disabled since the replica count of the target is zero", now)
        elif current > max_r or current < min_r:
            desired = max_r if current > max_r else min_r
            reason = "Current number of replicas above Spec.MaxReplicas" if current > max_r else \
                "Current number of replicas below Spec.MinReplicas"
        else:
            try:
                proposal, metric_name, metric_statuses = await self._compute(hpa, scale, current)
            except MetricsError as e:
                msg = str(e)
                self.recorder.event(hpa, WARNING, "FailedGetResourceMetric", msg)
                self.recorder.event(hpa, WARNING, "FailedComputeMetricsReplicas",
                                    f"invalid metrics (1 invalid out of {len(hspec.get('metrics') or [])}), "
                                    f"first error is: {msg}")
                conditions = wl.set_condition(conditions, "ScalingActive", "False", "FailedGetResourceMetric",
                                              f"the HPA was unable to compute the replica count: {msg}", now)
                await self._write(hpa, {**st, "conditions": conditions})
                return
            st["currentMetrics"] = metric_statuses
            conditions = wl.set_condition(
                conditions, "ScalingActive", "True", "ValidMetricFound",
                f"the HPA was able to successfully calculate a replica count from {metric_name}", now)
            desired, conditions = self._normalize(key, hpa, current, proposal, conditions, now)
            if desired > current:
                reason = f"{metric_name} above target"
            elif desired < current:
                reason = "All metrics below target"
        if desired != current and reason:
            body = {"spec": {"replicas": desired}}
            try:
                await self.client.patch(target, ref["name"], body, "merge", wl.meta(hpa)["namespace"], "scale")
            except ApiError as e:
                self.recorder.event(hpa, WARNING, "FailedRescale", f"New size: {desired}; reason: {reason}; error: {e.message}")
                conditions = wl.set_condition(conditions, "AbleToScale", "False", "FailedUpdateScale",
                                              f"the HPA controller was unable to update the target scale: {e.message}", now)
                await self._write(hpa, {**st, "conditions": conditions})
                raise
            self.log.info("%s: scaled %s from %d to %d (%s)", key, ref.get("name"), current, desired, reason)
            self.recorder.event(hpa, NORMAL, "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
            conditions = wl.set_condition(conditions, "AbleToScale", "True", "SucceededRescale",
                                          f"the HPA controller was able to update the target scale to {desired}", now)
            st["lastScaleTime"] = wl.timestamp(now)
        st["desiredReplicas"] = desired
        await self._write(hpa, {**st, "conditions": conditions})

    def _normalize(self, key: str, hpa: Obj, current: int, proposal: int, conditions: list[dict[str, Any]],
                   now: datetime) -> tuple[int, list[dict[str, Any]]]:
        hspec = wl.spec(hpa)
        behavior = hspec.get("behavior") or {}
        up_window = float((behavior.get("scaleUp") or {}).get("stabilizationWindowSeconds", 0))
        down_window = float((behavior.get("scaleDown") or {}).get("stabilizationWindowSeconds",
                                                                   self.downscale_window))
        recs = [r for r in self._recommendations.get(key, [])
                if (now - r[0]).total_seconds() <= max(up_window, down_window)]
        stabilized = stabilize(recs, now, current, proposal, up_window, down_window)
        recs.append((now, proposal))
        self._recommendations[key] = recs
        if stabilized != proposal:
            conditions = wl.set_condition(conditions, "AbleToScale", "True", "ScaleDownStabilized",
                                          "recent recommendations were higher than current one, applying the "
                                          "highest recent recommendation", now)
        else:
            conditions = wl.set_condition(conditions, "AbleToScale", "True", "ReadyForNewScale",
                                          "recommended size matches current size", now)
        desired, reason, message = clamp(stabilized, current, int(hspec.get("minReplicas", 1)),
                                         int(hspec["maxReplicas"]), bool(behavior))
        conditions = wl.set_condition(conditions, "ScalingLimited", "False" if reason == "DesiredWithinRange" else "True",
                                      reason, message, now)
        return desired, conditions

    def _target_resource(self, ref: Mapping[str, Any]) -> Any:
        group, _, version = str(ref.get("apiVersion") or "").rpartition("/")
        return self.client.registry.by_kind(group, version, str(ref.get("kind") or ""))

    async def _compute(self, hpa: Obj, scale: Obj, current: int) -> tuple[int, str, list[dict[str, Any]]]:
        """The largest proposal over the HPA's metrics, the name of the metric that gave it, and
        the metric statuses for ``status.currentMetrics``."""
        ns = wl.meta(hpa)["namespace"]
        selector_text = wl.status(scale).get("selector")
        if not selector_text:
            raise MetricsError("selector is required")
        best: tuple[int, str] | None = None
        statuses: list[dict[str, Any]] = []
        for metric in wl.spec(hpa).get("metrics") or []:
            if metric.get("type") != "Resource":
                raise MetricsError(f"metric source type {metric.get('type')!r} is not supported by navarch")
            res = metric.get("resource") or {}
            rname, tgt = res.get("name", "cpu"), res.get("target") or {}
            usage = await self._pod_usage(ns, selector_text, rname)
            samples = self._samples(ns, selector_text, rname, usage)
            if tgt.get("type") == "Utilization":
                replicas, value = resource_replicas(current, samples, float(tgt.get("averageUtilization") or 0),
                                                    True, self.tolerance)
                desc = f"{rname} resource utilization (percentage of request)"
                cur: dict[str, Any] = {"averageUtilization": int(value)}
            else:
                target_value = float(parse_quantity(tgt.get("averageValue") or "0"))
                replicas, value = resource_replicas(current, samples, target_value, False, self.tolerance)
                desc = f"{rname} resource"
                cur = {}
            cur["averageValue"] = _format_quantity(value if tgt.get("type") != "Utilization"
                                                   else sum(s.usage or 0 for s in samples) / max(len(samples), 1))
            statuses.append({"type": "Resource", "resource": {"name": rname, "current": cur}})
            if best is None or replicas > best[0]:
                best = (replicas, desc)
        if best is None:
            raise MetricsError("no metrics to compute a replica count from")
        return best[0], best[1], statuses

    async def _pod_usage(self, ns: str, selector: str, resource: str) -> dict[str, float]:
        """Per-pod usage of ``resource`` from the resource metrics API (PodMetrics)."""
        try:
            raw = await self.client.get_raw(f"{METRICS_API}/namespaces/{ns}/pods", {"labelSelector": selector})
        except ApiError as e:
            detail = "the server could not find the requested resource (get pods.metrics.k8s.io)" \
                if is_not_found(e) else e.message
            raise MetricsError(f"failed to get {resource} utilization: unable to get metrics for resource "
                               f"{resource}: unable to fetch metrics from resource metrics API: {detail}") from None
        items = orjson.loads(raw).get("items") or []
        out: dict[str, float] = {}
        for item in items:
            total = Decimal(0)
            for c in item.get("containers") or []:
                q = (c.get("usage") or {}).get(resource)
                if q is not None:
                    total += parse_quantity(q)
            out[(item.get("metadata") or {}).get("name", "")] = float(total)
        if not out:
            raise MetricsError(f"failed to get {resource} utilization: unable to get metrics for resource "
                               f"{resource}: no metrics returned from resource metrics API")
        return out

    def _samples(self, ns: str, selector: str, resource: str, usage: Mapping[str, float]) -> list[PodSample]:
        out = []
        for pod in self.pods.list(ns, as_label_selector(selector)):
            name = wl.meta(pod)["name"]
            if wl.is_terminating(pod) or wl.phase(pod) == wl.FAILED:
                state = "ignored"
            elif wl.phase(pod) == wl.PENDING or (resource == "cpu" and not wl.is_pod_ready(pod)):
                state = "unready"
            else:
                state = "ready"
            request = Decimal(0)
            for c in wl.spec(pod).get("containers") or []:
                q = ((c.get("resources") or {}).get("requests") or {}).get(resource)
                if q is not None:
                    request += parse_quantity(q)
            out.append(PodSample(name, state, usage.get(name), float(request)))
        return [s for s in out if s.state != "ignored"]

    async def _write(self, hpa: Obj, status: dict[str, Any]) -> None:
        status.setdefault("desiredReplicas", wl.status(hpa).get("desiredReplicas", 0))
        status.setdefault("currentReplicas", wl.status(hpa).get("currentReplicas", 0))
        if status == dict(wl.status(hpa)):
            return
        status["observedGeneration"] = wl.meta(hpa).get("generation")
        try:
            await self.client.update_status(HPAS, {**dict(hpa), "status": status})
        except ApiError as e:
            if not is_not_found(e):
                raise


def _format_quantity(value: float) -> str:
    milli = round(value * 1000)
    return f"{milli // 1000}" if milli % 1000 == 0 else f"{milli}m"



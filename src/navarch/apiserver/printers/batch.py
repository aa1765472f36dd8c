"""Printers for ``batch/v1``: jobs and cron jobs."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from navarch.apiserver.printers import format as f
from navarch.apiserver.printers.spec import Printer, age_column, col, container_columns, name_column, wide


def job_status(job: dict[str, Any]) -> str:
    """The STATUS column; finished conditions win over a pending deletion, as upstream orders them."""
    conditions = (job.get("status") or {}).get("conditions")
    if f.condition_true(conditions, "Complete"):
        return "Complete"
    if f.condition_true(conditions, "Failed"):
        return "Failed"
    if (job.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    if f.condition_true(conditions, "Suspended"):
        return "Suspended"
    if f.condition_true(conditions, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def job_completions(spec: dict[str, Any], succeeded: int) -> str:
    completions = spec.get("completions")
    if completions is not None:
        return f"{succeeded}/{completions}"
    parallelism = spec.get("parallelism") or 0
    if parallelism > 1:
        return f"{succeeded}/1 of {parallelism}"
    return f"{succeeded}/1"


def job_duration(status: dict[str, Any], now: float) -> str:
    start = f.epoch(status.get("startTime"))
    if start is None:
        return ""
    end = f.epoch(status.get("completionTime"))
    return f.human_duration((now if end is None else end) - start)


def job_cells(job: dict[str, Any], now: float) -> list[Any]:
    meta = job.get("metadata") or {}
    spec = job.get("spec") or {}
    status = job.get("status") or {}
    names, images = f.container_cells(f.template_spec(job))
    return [meta.get("name", ""), job_status(job), job_completions(spec, status.get("succeeded") or 0),
            job_duration(status, now), f.since(meta.get("creationTimestamp"), now), names, images,
            f.format_label_selector(spec.get("selector"))]


def cronjob_cells(cj: dict[str, Any], now: float) -> list[Any]:
    meta = cj.get("metadata") or {}
    spec = cj.get("spec") or {}
    status = cj.get("status") or {}
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    names, images = f.container_cells((job_spec.get("template") or {}).get("spec"))
    last = status.get("lastScheduleTime")
    return [meta.get("name", ""), spec.get("schedule", ""), spec.get("timeZone") or f.NONE,
            f.bool_word(spec.get("suspend")), len(status.get("active") or ()),
            f.since(last, now) if last else f.NONE, f.since(meta.get("creationTimestamp"), now),
            names, images, f.format_label_selector(job_spec.get("selector"))]


PRINTERS = MappingProxyType({
    ("batch", "jobs"): Printer((
        name_column(),
        col("Status", "Status of the job."),
        col("Completions", "The number of pods which reached phase Succeeded."),
        col("Duration", "Time required to complete the job."),
        age_column(),
        *container_columns(),
        wide("Selector", "A label query over pods that should match the pod count."),
    ), job_cells),
    ("batch", "cronjobs"): Printer((
        name_column(),
        col("Schedule", "The schedule in Cron format."),
        col("Timezone", "The time zone name for the given schedule."),
        col("Suspend", "Whether subsequent executions are suspended.", "boolean"),
        col("Active", "The number of currently running jobs.", "integer"),
        col("Last Schedule", "Information when was the last time the job was successfully scheduled."),
        age_column(),
        *container_columns(),
        wide("Selector", "A label query over pods that should match the pod count."),
    ), cronjob_cells),
})

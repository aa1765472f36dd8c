"""Cells for batch/v1 objects, compared with what ``kubectl get`` (1.33) prints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from navarch.api.resources import REGISTRY
from navarch.apiserver.printers import columns_for, row_cells

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
CREATED = "2024-05-01T11:50:00Z"  # 10m before NOW
TEMPLATE = {"spec": {"containers": [{"name": "pi", "image": "perl:5.34"}], "restartPolicy": "Never"}}


def cells(plural: str, obj: dict[str, Any]) -> list[Any]:
    resource = REGISTRY.get("batch", "v1", plural)
    assert resource is not None
    out = row_cells(resource, obj, NOW)
    assert len(out) == len(columns_for(resource))
    return out


def make_job(spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": "pi", "creationTimestamp": CREATED, **meta},
            "spec": {"completions": 1, "parallelism": 1, "template": TEMPLATE,
                     "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}}, **(spec or {})},
            "status": status or {}}


def cond(ctype: str, status: str = "True") -> dict[str, Any]:
    return {"type": ctype, "status": status}


def test_completed_job() -> None:
    job = make_job(status={"succeeded": 1, "startTime": "2024-05-01T11:50:00Z",
                           "completionTime": "2024-05-01T11:50:09Z",
                           "conditions": [cond("SuccessCriteriaMet"), cond("Complete")]})
    # kubectl: pi   Complete   1/1   9s   10m
    assert cells("jobs", job) == ["pi", "Complete", "1/1", "9s", "10m", "pi", "perl:5.34",
                                  "batch.kubernetes.io/controller-uid=abc"]


def test_running_job_duration_counts_to_now() -> None:
    job = make_job(status={"active": 1, "startTime": "2024-05-01T11:55:00Z"})
    assert cells("jobs", job)[1:4] == ["Running", "0/1", "5m"]
    assert cells("jobs", make_job())[3] == ""  # not started yet


@pytest.mark.parametrize(("conditions", "deleting", "want"), [
    ([cond("FailureTarget"), cond("Failed")], False, "Failed"),
    ([cond("Suspended")], False, "Suspended"),
    ([cond("Suspended", "False")], False, "Running"),
    ([cond("FailureTarget")], False, "FailureTarget"),
    ([], True, "Terminating"),
    ([cond("Complete")], True, "Complete"),
], ids=["failed", "suspended", "resumed", "failuretarget", "terminating", "complete-wins-over-deletion"])
def test_job_status(conditions: list[dict[str, Any]], deleting: bool, want: str) -> None:
    meta = {"deletionTimestamp": "2024-05-01T11:59:00Z"} if deleting else {}
    assert cells("jobs", make_job(status={"conditions": conditions}, **meta))[1] == want


@pytest.mark.parametrize(("spec", "succeeded", "want"), [
    ({"completions": 5, "parallelism": 2}, 3, "3/5"),
    ({"completions": None, "parallelism": 3}, 1, "1/1 of 3"),
    ({"completions": None, "parallelism": 1}, 0, "0/1"),
], ids=["fixed", "work-queue", "single"])
def test_job_completions(spec: dict[str, Any], succeeded: int, want: str) -> None:
    job = make_job(status={"succeeded": succeeded})
    job["spec"].update(spec)
    if spec["completions"] is None:
        del job["spec"]["completions"]
    assert cells("jobs", job)[2] == want


def test_cronjob() -> None:
    cj = {"metadata": {"name": "hello", "creationTimestamp": CREATED},
          "spec": {"schedule": "*/1 * * * *", "suspend": False,
                   "jobTemplate": {"spec": {"template": TEMPLATE}}},
          "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": "2024-05-01T11:59:00Z"}}
    # kubectl: hello   */1 * * * *   <none>   False   1   60s   10m
    assert cells("cronjobs", cj) == ["hello", "*/1 * * * *", "<none>", "False", 1, "60s", "10m", "pi", "perl:5.34",
                                     "<none>"]
    cj["spec"].update(timeZone="Etc/UTC", suspend=True)
    cj["status"] = {}
    assert cells("cronjobs", cj)[2:6] == ["Etc/UTC", "True", 0, "<none>"]

"""Backoff, index bookkeeping and the success/failure verdicts of the Job controller."""

from datetime import UTC, datetime

import pytest

from navarch.controllers import job as jobc

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("failures,want", [(0, 0), (1, 10), (2, 20), (3, 40), (6, 320), (7, 360), (30, 360)])
def test_backoff_delay_doubles_and_caps(failures, want):
    assert jobc.backoff_delay(failures) == want


@pytest.mark.parametrize("text,indexes", [("", set()), ("0", {0}), ("0-2,4", {0, 1, 2, 4}), ("1,3-5,7-8", {1, 3, 4, 5, 7, 8})])
def test_indexes_round_trip(text, indexes):
    assert jobc.parse_indexes(text) == indexes
    assert jobc.format_indexes(indexes) == text


def test_format_indexes_pairs():
    assert jobc.format_indexes({0, 1}) == "0-1"


def make_job(**spec):
    base = {"parallelism": 1, "completions": 1, "backoffLimit": 6, "completionMode": "NonIndexed"}
    base.update(spec)
    return {"metadata": {"name": "pi", "namespace": "ns", "uid": "u"}, "spec": base,
            "status": {"startTime": "2025-01-01T11:59:00Z"}}


@pytest.mark.parametrize("spec,succeeded,want", [
    ({"completions": 5, "parallelism": 2}, 0, 2),
    ({"completions": 5, "parallelism": 2}, 4, 1),
    ({"completions": 5, "parallelism": 2}, 5, 0),
    ({"completions": None, "parallelism": 3}, 0, 3),
    ({"completions": None, "parallelism": 3}, 1, 0),
], ids=["start", "last-one", "done", "queue", "queue-done"])
def test_want_active(spec, succeeded, want):
    assert jobc.want_active(make_job(**spec), succeeded) == want


@pytest.mark.parametrize("spec,succeeded,failed,completed,active,condition,reason", [
    ({"completions": 3}, 3, 0, set(), 0, "SuccessCriteriaMet", "CompletionsReached"),
    ({"completions": 3}, 2, 0, set(), 1, None, ""),
    ({"backoffLimit": 2}, 0, 3, set(), 0, "FailureTarget", "BackoffLimitExceeded"),
    ({"backoffLimit": 2}, 0, 2, set(), 1, None, ""),
    ({"activeDeadlineSeconds": 30}, 0, 0, set(), 1, "FailureTarget", "DeadlineExceeded"),
    ({"activeDeadlineSeconds": 90}, 0, 0, set(), 1, None, ""),
    ({"completionMode": "Indexed", "completions": 3}, 3, 0, {0, 1}, 1, None, ""),
    ({"completionMode": "Indexed", "completions": 3}, 3, 0, {0, 1, 2}, 0, "SuccessCriteriaMet", "CompletionsReached"),
    ({"completions": None, "parallelism": 2}, 1, 0, set(), 1, None, ""),
    ({"completions": None, "parallelism": 2}, 1, 0, set(), 0, "SuccessCriteriaMet", "CompletionsReached"),
], ids=["complete", "not-yet", "backoff", "within-backoff", "deadline", "before-deadline", "indexed-missing",
        "indexed-done", "queue-running", "queue-done"])
def test_judge(spec, succeeded, failed, completed, active, condition, reason):
    verdict = jobc.judge(make_job(**spec), succeeded, failed, completed, active, NOW)
    assert verdict.condition == condition
    assert verdict.reason == reason


def test_pod_failed_counts_deleted_unfinished_pods():
    assert jobc.pod_failed({"status": {"phase": "Failed"}})
    assert jobc.pod_failed({"metadata": {"deletionTimestamp": "x"}, "status": {"phase": "Running"}})
    assert not jobc.pod_failed({"metadata": {"deletionTimestamp": "x"}, "status": {"phase": "Succeeded"}})
    assert not jobc.pod_failed({"status": {"phase": "Running"}})


def test_indexed_pod_carries_index_hostname_env_and_finalizer():
    job = make_job(completionMode="Indexed", completions=3)
    job["spec"]["template"] = {"metadata": {"labels": {"job-name": "pi"}},
                               "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    pod = jobc.new_job_pod(job, 2)
    meta = pod["metadata"]
    assert meta["generateName"] == "pi-2-"
    assert meta["labels"][jobc.COMPLETION_INDEX] == "2" and meta["annotations"][jobc.COMPLETION_INDEX] == "2"
    assert meta["finalizers"] == [jobc.TRACKING_FINALIZER]
    assert pod["spec"]["hostname"] == "pi-2"
    assert pod["spec"]["containers"][0]["env"][0]["name"] == "JOB_COMPLETION_INDEX"
    assert "env" not in job["spec"]["template"]["spec"]["containers"][0]  # the template is not mutated


def test_pending_indexes_skip_completed_and_active():
    assert jobc.pending_indexes(5, {0, 2}, {1}) == [3, 4]


def test_deletion_order_prefers_unscheduled_then_not_ready():
    pods = [
        {"metadata": {"name": "ready", "creationTimestamp": "1"}, "spec": {"nodeName": "n"},
         "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}},
        {"metadata": {"name": "unscheduled", "creationTimestamp": "1"}, "spec": {}, "status": {"phase": "Pending"}},
        {"metadata": {"name": "running", "creationTimestamp": "1"}, "spec": {"nodeName": "n"},
         "status": {"phase": "Running"}},
    ]
    assert [p["metadata"]["name"] for p in jobc.deletion_order(pods)] == ["unscheduled", "running", "ready"]

"""The identity a container runs with, and upstream's runAsNonRoot verdicts."""

from __future__ import annotations

from typing import Any

from navarch.kubelet.securitycontext import Identity, effective, non_root_violation


def pod(pod_sc: dict[str, Any] | None = None, sc: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    container = {"name": "c", **({"securityContext": sc} if sc is not None else {})}
    return ({"metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
             "spec": {"securityContext": pod_sc or {}, "containers": [container]}}, container)


def test_the_container_wins_over_the_pod_and_pod_groups_add_up() -> None:
    p, c = pod({"runAsUser": 1000, "runAsGroup": 2000, "runAsNonRoot": True, "supplementalGroups": [4000, 5000],
                "fsGroup": 5000}, {"runAsGroup": 3000, "runAsNonRoot": False})
    assert effective(p, c) == Identity(1000, 3000, False, (4000, 5000))
    p, c = pod()
    assert effective(p, c) == Identity()
    assert effective({"spec": {}}, {"securityContext": {"runAsUser": 0}}) == Identity(run_as_user=0)


def test_run_as_non_root_verdicts_in_upstreams_words() -> None:
    where = '(pod: "p_ns(u1)", container: c)'
    p, c = pod({"runAsNonRoot": True})
    identity = effective(p, c)
    assert non_root_violation(p, c, identity, 0, "") == f"container has runAsNonRoot and image will run as root {where}"
    assert non_root_violation(p, c, identity, None, "") == \
        f"container has runAsNonRoot and image will run as root {where}", "an image with no user runs as root"
    assert non_root_violation(p, c, identity, None, "nginx") == (
        f"container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user is non-root {where}")
    assert non_root_violation(p, c, identity, 1000, "") == ""
    p, c = pod({"runAsNonRoot": True}, {"runAsUser": 0})
    assert non_root_violation(p, c, effective(p, c), 1000, "") == f"container's runAsUser breaks non-root policy {where}"
    p, c = pod({"runAsNonRoot": True, "runAsUser": 1000})
    assert non_root_violation(p, c, effective(p, c), 0, "") == "", "runAsUser decides, not the image"
    p, c = pod()
    assert non_root_violation(p, c, effective(p, c), 0, "") == ""

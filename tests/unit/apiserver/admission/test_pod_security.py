import pytest

from navarch.api.errors import StatusError
from navarch.apiserver.admission import pod_security
from navarch.apiserver.admission.pod_security import LevelVersion
from tests.unit.apiserver.admission.fakes import (
    FakeAccess,
    attrs,
    container,
    make_pod,
    namespace,
)

P = "pod-security.kubernetes.io/"
RESTRICTED_OK = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
                 "seccompProfile": {"type": "RuntimeDefault"}}


def access_with(labels: dict[str, str]) -> FakeAccess:
    access = FakeAccess()
    access.put("", "namespaces", namespace("ns", labels))
    return access


async def test_restricted_refuses_privileged_pod_with_upstream_message() -> None:
    pod = make_pod(containers=[container("c", securityContext={"privileged": True})])
    with pytest.raises(StatusError) as e:
        await pod_security.validate(attrs(access_with({P + "enforce": "restricted"}), "pods", pod))
    assert e.value.code == 403
    assert e.value.message == (
        'pods "p" is forbidden: violates PodSecurity "restricted:latest": '
        'privileged (container "c" must not set securityContext.privileged=true), '
        'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), '
        'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), '
        'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), '
        'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to '
        '"RuntimeDefault" or "Localhost")')


async def test_restricted_admits_hardened_pod() -> None:
    pod = make_pod(containers=[container("c", securityContext=RESTRICTED_OK)])
    await pod_security.validate(attrs(access_with({P + "enforce": "restricted"}), "pods", pod))


async def test_baseline_allows_what_restricted_refuses_but_not_host_namespaces() -> None:
    access = access_with({P + "enforce": "baseline", P + "enforce-version": "v1.30"})
    await pod_security.validate(attrs(access, "pods", make_pod()))
    with pytest.raises(StatusError) as e:
        await pod_security.validate(attrs(access, "pods", make_pod(hostNetwork=True, hostPID=True)))
    assert e.value.message == ('pods "p" is forbidden: violates PodSecurity "baseline:v1.30": '
                               "host namespaces (hostNetwork, hostPID)")


async def test_warn_level_adds_warning_only() -> None:
    a = attrs(access_with({P + "warn": "restricted"}), "pods", make_pod(
        containers=[container("a", securityContext={**RESTRICTED_OK, "allowPrivilegeEscalation": True}),
                    container("b")]))
    await pod_security.validate(a)
    assert a.warnings and a.warnings[0].startswith(
        'would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false '
        '(containers "a", "b" must set securityContext.allowPrivilegeEscalation=false)')


async def test_workload_templates_are_warned_not_refused() -> None:
    dep = {"metadata": {"name": "web", "namespace": "ns"},
           "spec": {"template": {"metadata": {}, "spec": {"containers": [{"name": "c", "image": "x",
                                                                          "securityContext": {"privileged": True}}]}}}}
    a = attrs(access_with({P + "enforce": "baseline"}), "deployments", dep, group="apps")
    await pod_security.validate(a)
    assert a.warnings == ['would violate PodSecurity "baseline:latest": privileged '
                          '(container "c" must not set securityContext.privileged=true)']


async def test_unlabelled_namespace_is_privileged() -> None:
    await pod_security.validate(attrs(access_with({}), "pods", make_pod(hostNetwork=True)))


async def test_invalid_namespace_label_is_invalid() -> None:
    a = attrs(FakeAccess(), "namespaces", namespace("dev", {P + "enforce": "strict"}), namespace=None)
    with pytest.raises(StatusError) as e:
        await pod_security.validate(a)
    assert e.value.code == 422
    assert e.value.message == ('Namespace "dev" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: '
                               'Invalid value: "strict": must be one of privileged, baseline, restricted')


@pytest.mark.parametrize("spec,reason", [
    ({"volumes": [{"name": "h", "hostPath": {"path": "/"}}]}, "restricted volume types"),
    ({"containers": [container("c", securityContext={**RESTRICTED_OK, "runAsUser": 0})]}, "runAsUser=0"),
    ({"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]},
      "containers": [container("c", securityContext=RESTRICTED_OK)]}, "forbidden sysctls"),
    ({"containers": [container("c", securityContext=RESTRICTED_OK, ports=[{"containerPort": 80, "hostPort": 80}])]},
     "hostPort"),
], ids=["volumes", "runAsUser", "sysctls", "hostPort"])
def test_single_restricted_violations(spec: dict, reason: str) -> None:
    pod = make_pod(**spec) if "containers" in spec else make_pod(
        containers=[container("c", securityContext=RESTRICTED_OK)], **spec)
    broken = pod_security.evaluate(LevelVersion("restricted", None), pod["metadata"], pod["spec"])
    assert [r for r, _ in broken] == [reason]


def test_namespace_tightening_warns_about_existing_pods() -> None:
    pods = [make_pod("b", containers=[container("c", securityContext={"privileged": True})]),
            make_pod("a", containers=[container("c", securityContext={"privileged": True})]),
            make_pod("ok")]
    out = pod_security.existing_pod_warnings("ns", LevelVersion("baseline", None), pods)
    assert out == ['existing pods in namespace "ns" violate the new PodSecurity enforce level "baseline:latest"',
                   "a (and 1 other pods): privileged"]

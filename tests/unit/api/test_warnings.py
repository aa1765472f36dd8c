"""Upstream's advisory warnings for pods, pod templates and deprecated resources."""

from __future__ import annotations

from navarch.api.resources import REGISTRY
from navarch.api.warnings import object_warnings, pod_warnings, resource_deprecation

POD = REGISTRY.get("", "v1", "pods")
DEPLOY = REGISTRY.get("apps", "v1", "deployments")
CRONJOB = REGISTRY.get("batch", "v1", "cronjobs")


def test_endpoints_are_deprecated_and_pods_are_not() -> None:
    endpoints = REGISTRY.get("", "v1", "endpoints")
    assert resource_deprecation(endpoints) == "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"
    assert resource_deprecation(POD) == ""


def test_deprecated_node_labels_in_selectors_affinity_and_spread() -> None:
    spec = {"nodeSelector": {"beta.kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux"},
            "affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "a", "operator": "Exists"},
                                          {"key": "failure-domain.beta.kubernetes.io/zone", "operator": "Exists"}]}]},
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 1, "preference": {"matchExpressions": [{"key": "beta.kubernetes.io/os", "operator": "Exists"}]}}]}},
            "topologySpreadConstraints": [{"topologyKey": "failure-domain.beta.kubernetes.io/region", "maxSkew": 1,
                                           "whenUnsatisfiable": "DoNotSchedule"}],
            "containers": [{"name": "c"}]}
    assert pod_warnings(spec, {}, "") == [
        'spec.nodeSelector[beta.kubernetes.io/arch]: deprecated since v1.14; use "kubernetes.io/arch" instead',
        ("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
        '.matchExpressions[1].key: failure-domain.beta.kubernetes.io/zone is deprecated since v1.17; use '
        '"topology.kubernetes.io/zone" instead'),
        ("spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference"
        '.matchExpressions[0].key: beta.kubernetes.io/os is deprecated since v1.14; use "kubernetes.io/os" instead'),
        ("spec.topologySpreadConstraints[0].topologyKey: failure-domain.beta.kubernetes.io/region is deprecated "
        'since v1.17; use "topology.kubernetes.io/region" instead'),
        "spec.topologySpreadConstraints[0].labelSelector: a null labelSelector results in matching no pod",
    ]


def test_annotations_volumes_duplicates_and_fractional_bytes() -> None:
    spec = {"volumes": [{"name": "g", "gitRepo": {"repository": "x"}}, {"name": "s", "storageos": {}}],
            "hostAliases": [{"ip": "1.2.3.4"}, {"ip": "1.2.3.4"}],
            "imagePullSecrets": [{"name": "r"}, {"name": "r"}, {}],
            "containers": [{"name": "c", "resources": {"requests": {"memory": "1.5"}, "limits": {"memory": "2Gi"}},
                            "env": [{"name": "X", "value": "a"}, {"name": "X", "value": "$(X)b"},
                                    {"name": "X", "value": "c"}]}]}
    meta = {"annotations": {"scheduler.alpha.kubernetes.io/critical-pod": "",
                            "container.seccomp.security.alpha.kubernetes.io/c": "runtime/default"}}
    assert pod_warnings(spec, meta, "") == [
        ('metadata.annotations[scheduler.alpha.kubernetes.io/critical-pod]: non-functional in v1.16+; use the '
        '"priorityClassName" field instead'),
        "spec.volumes[0].gitRepo: deprecated in v1.11",
        "spec.volumes[1].storageOS: deprecated in v1.22, non-functional in v1.25+",
        'spec.hostAliases[1].ip: duplicate ip "1.2.3.4"',
        'spec.imagePullSecrets[1].name: duplicate name "r"',
        'spec.imagePullSecrets[2].name: invalid empty name ""',
        ('metadata.annotations[container.seccomp.security.alpha.kubernetes.io/c]: non-functional in v1.27+; use the '
        '"seccompProfile" field instead'),
        'spec.containers[0].resources.requests[memory]: fractional byte value "1.5" is invalid, must be an integer',
        'spec.containers[0].env[2]: hides previous definition of "X", which may be dropped when using apply',
    ]


def test_templates_are_checked_at_their_path() -> None:
    template = {"metadata": {}, "spec": {"nodeSelector": {"beta.kubernetes.io/os": "linux"}, "containers": [{"name": "c"}]}}
    assert object_warnings(DEPLOY, {"spec": {"template": template}}) == [
        'spec.template.spec.nodeSelector[beta.kubernetes.io/os]: deprecated since v1.14; use "kubernetes.io/os" instead']
    cron = {"spec": {"jobTemplate": {"spec": {"template": template}}}}
    assert object_warnings(CRONJOB, cron)[0].startswith("spec.jobTemplate.spec.template.spec.nodeSelector[")
    assert object_warnings(POD, {"spec": {"containers": [{"name": "c"}]}}) == []

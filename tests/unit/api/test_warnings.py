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


def _ports(*containers: list[dict], init: list[dict] | None = None) -> dict:
    spec: dict = {"containers": [{"name": f"c{i}", "ports": ports} for i, ports in enumerate(containers)]}
    if init is not None:
        spec["initContainers"] = [{"name": "i0", "ports": init}]
    return spec


def test_ports_that_repeat_or_shadow_each_other() -> None:
    udp80 = {"containerPort": 80, "protocol": "UDP"}
    assert pod_warnings(_ports([udp80, dict(udp80)]), {}, "") == [
        "spec.containers[0].ports[1]: duplicate port definition with spec.containers[0].ports[0]"]
    # Init containers come first, as upstream visits them.
    tcp = {"containerPort": 8080, "protocol": "TCP"}
    assert pod_warnings(_ports([tcp], init=[dict(tcp)]), {}, "") == [
        "spec.containers[0].ports[0]: duplicate port definition with spec.initContainers[0].ports[0]"]
    assert pod_warnings(_ports([tcp], [{**tcp, "hostPort": 80}]), {}, "") == [
        "spec.containers[1].ports[0]: overlapping port definition with spec.containers[0].ports[0]"]
    assert pod_warnings(_ports([{**tcp, "hostPort": 80, "hostIP": "10.0.0.1"}], [{**tcp, "hostPort": 80}]), {}, "") == [
        "spec.containers[1].ports[0]: dangerously ambiguous port definition with spec.containers[0].ports[0]"]
    assert pod_warnings(_ports([{**tcp, "hostPort": 80, "hostIP": "10.0.0.1"}],
                               [{**tcp, "hostPort": 80, "hostIP": "10.0.0.2"}]), {}, "") == []
    assert pod_warnings(_ports([tcp, {"containerPort": 8080, "protocol": "UDP"}]), {}, "") == []


def test_host_ip_without_host_port_prints_the_port_as_go_does() -> None:
    port = {"name": "web", "containerPort": 80, "protocol": "TCP", "hostIP": "10.0.0.1"}
    assert pod_warnings(_ports([port]), {}, "") == [
        ("spec.containers[0].ports[0]: hostIP set without hostPort: "
         "{Name:web HostPort:0 ContainerPort:80 Protocol:TCP HostIP:10.0.0.1}")]


def test_pod_affinity_terms_without_a_label_selector() -> None:
    term = {"topologyKey": "kubernetes.io/hostname"}
    spec = {"containers": [{"name": "c"}], "affinity": {
        "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]},
        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 1, "podAffinityTerm": {**term, "labelSelector": {}}},
            {"weight": 1, "podAffinityTerm": term}]}}}
    base = "spec.template.spec.affinity"
    assert pod_warnings(spec, {}, "spec.template.") == [
        (f"{base}.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector: "
         "a null labelSelector results in matching no pod"),
        (f"{base}.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[1].podAffinityTerm.labelSelector: "
         "a null labelSelector results in matching no pod")]


def test_volume_items_that_overlap() -> None:
    spec = {"containers": [{"name": "c"}], "volumes": [
        {"name": "cm", "configMap": {"name": "conf", "items": [
            {"key": "a", "path": "etc/app"}, {"key": "b", "path": "etc/app/sub/"}, {"key": "c", "path": "other"}]}},
        {"name": "sec", "secret": {"secretName": "s", "items": [{"key": "a", "path": "x"}, {"key": "b", "path": "x"}]}},
        {"name": "fine", "downwardAPI": {"items": [{"path": "labels"}, {"path": "annotations"}]}},
        {"name": "proj", "projected": {"sources": [
            {"serviceAccountToken": {"path": "token"}},
            {"configMap": {"name": "root", "items": [{"key": "ca.crt", "path": "token"}]}},
            {}]}},
    ]}
    assert pod_warnings(spec, {}, "") == [
        'volume "cm" (ConfigMap "conf"): overlapping paths: "etc/app/sub" with "etc/app"',
        'volume "sec" (Secret "s"): overlapping paths: "x" with "x"',
        # Across sources the paths so far are checked with this source's, sorted.
        'volume "proj" (Projected ConfigMap "root"): overlapping paths: "token" with "token"',
        'volume "proj" (Projected) has no sources provided',
    ]


def test_the_service_account_volume_has_no_overlap() -> None:
    spec = {"containers": [{"name": "c"}], "volumes": [{"name": "kube-api-access-x", "projected": {"sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}}]}
    assert pod_warnings(spec, {}, "") == []

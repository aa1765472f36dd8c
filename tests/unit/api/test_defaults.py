import pytest

from navarch.api import defaults
from navarch.api.resources import REGISTRY


def r(group, kind):
    return REGISTRY.by_kind(group, REGISTRY.preferred_version(group), kind)


def apply(group, kind, obj):
    defaults.apply_defaults(r(group, kind), obj)
    return obj


def pod_spec(**extra):
    spec = {"containers": [{"name": "a", "image": "nginx"}]}
    spec.update(extra)
    return spec


POD_SPEC_DEFAULTS = {
    "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30,
    "schedulerName": "default-scheduler", "securityContext": {}, "enableServiceLinks": True,
}
CONTAINER_DEFAULTS = {
    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File", "resources": {},
}


def test_pod_defaults():
    pod = apply("", "Pod", {"spec": pod_spec()})
    spec = pod["spec"]
    for k, v in POD_SPEC_DEFAULTS.items():
        assert spec[k] == v, k
    assert "priority" not in spec and "preemptionPolicy" not in spec  # the Priority admission plugin's
    container = spec["containers"][0]
    for k, v in CONTAINER_DEFAULTS.items():
        assert container[k] == v, k
    assert container["imagePullPolicy"] == "Always"


@pytest.mark.parametrize("image,policy", [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.25", "IfNotPresent"),
    ("localhost:5000/nginx", "Always"), ("localhost:5000/nginx:1", "IfNotPresent"),
    ("nginx@sha256:abc", "IfNotPresent"),
])
def test_image_pull_policy(image, policy):
    pod = apply("", "Pod", {"spec": {"containers": [{"name": "a", "image": image}]}})
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_explicit_values_kept():
    pod = apply("", "Pod", {"spec": pod_spec(restartPolicy="Never", terminationGracePeriodSeconds=0)})
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["terminationGracePeriodSeconds"] == 0


def test_container_children_defaults():
    c = {"name": "a", "image": "x:1", "ports": [{"containerPort": 80}],
         "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
         "livenessProbe": {"httpGet": {"port": 80}}, "readinessProbe": {"tcpSocket": {"port": 80}}}
    spec = apply("", "Pod", {"spec": {"containers": [c], "volumes": [
        {"name": "cm", "configMap": {"name": "c"}}, {"name": "s", "secret": {"secretName": "s"}},
        {"name": "bare"}]}})["spec"]
    c = spec["containers"][0]
    assert c["ports"][0]["protocol"] == "TCP"
    assert c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert c["livenessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                  "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert c["readinessProbe"]["periodSeconds"] == 10
    assert spec["volumes"][0]["configMap"]["defaultMode"] == 420
    assert spec["volumes"][1]["secret"]["defaultMode"] == 420
    assert spec["volumes"][2]["emptyDir"] == {}


def test_deployment_defaults():
    d = apply("apps", "Deployment", {"spec": {"template": {"spec": pod_spec()}}})
    spec = d["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10 and spec["progressDeadlineSeconds"] == 600
    assert spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    assert "priority" not in spec["template"]["spec"]


def test_deployment_recreate_gets_no_rolling_update():
    d = apply("apps", "Deployment", {"spec": {"strategy": {"type": "Recreate"}, "template": {"spec": pod_spec()}}})
    assert d["spec"]["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize("group,kind,path,expected", [
    ("apps", "ReplicaSet", ("replicas",), 1),
    ("apps", "StatefulSet", ("replicas",), 1),
    ("apps", "StatefulSet", ("podManagementPolicy",), "OrderedReady"),
    ("apps", "StatefulSet", ("updateStrategy",), {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
    ("apps", "StatefulSet", ("persistentVolumeClaimRetentionPolicy",), {"whenDeleted": "Retain", "whenScaled": "Retain"}),
    ("apps", "StatefulSet", ("revisionHistoryLimit",), 10),
    ("apps", "DaemonSet", ("updateStrategy",), {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
    ("apps", "DaemonSet", ("revisionHistoryLimit",), 10),
    ("batch", "Job", ("parallelism",), 1),
    ("batch", "Job", ("completions",), 1),
    ("batch", "Job", ("backoffLimit",), 6),
    ("batch", "Job", ("completionMode",), "NonIndexed"),
    ("batch", "Job", ("suspend",), False),
    ("batch", "Job", ("podReplacementPolicy",), "TerminatingOrFailed"),
    ("batch", "Job", ("template", "spec", "terminationGracePeriodSeconds"), 30),
    ("", "ReplicationController", ("replicas",), 1),
])
def test_workload_defaults(group, kind, path, expected):
    obj = apply(group, kind, {"spec": {"template": {"spec": pod_spec()}}})
    value = obj["spec"]
    for p in path:
        value = value[p]
    assert value == expected


def test_job_parallelism_only_leaves_completions_unset():
    job = apply("batch", "Job", {"spec": {"parallelism": 3, "template": {"spec": pod_spec()}}})
    assert job["spec"]["parallelism"] == 3 and "completions" not in job["spec"]


def test_cronjob_defaults():
    cj = apply("batch", "CronJob", {"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": pod_spec()}}}}})
    spec = cj["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)
    assert spec["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] == "Always"


def test_job_selector_helpers():
    assert defaults.job_selector_labels("u1", "pi") == {
        "batch.kubernetes.io/controller-uid": "u1", "batch.kubernetes.io/job-name": "pi",
        "controller-uid": "u1", "job-name": "pi"}
    job = {"metadata": {"name": "pi"}, "spec": {"template": {"metadata": {"labels": {"x": "y"}}, "spec": pod_spec()}}}
    defaults.apply_job_selector(job, "u1")
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}}
    assert job["spec"]["template"]["metadata"]["labels"]["job-name"] == "pi"
    assert job["spec"]["template"]["metadata"]["labels"]["x"] == "y"
    manual = {"metadata": {"name": "m"}, "spec": {"manualSelector": True, "template": {}}}
    defaults.apply_job_selector(manual, "u1")
    assert "selector" not in manual["spec"]


def test_service_defaults():
    svc = apply("", "Service", {"spec": {"ports": [{"port": 80}, {"port": 443, "targetPort": "https"}]}})
    spec = svc["spec"]
    assert spec["type"] == "ClusterIP" and spec["sessionAffinity"] == "None"
    assert spec["ports"][0] == {"port": 80, "protocol": "TCP", "targetPort": 80}
    assert spec["ports"][1]["targetPort"] == "https"
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert spec["ipFamilyPolicy"] == "SingleStack" and spec["ipFamilies"] == ["IPv4"]
    assert "externalTrafficPolicy" not in spec
    node_port = apply("", "Service", {"spec": {"type": "NodePort", "ports": [{"port": 80}]}})
    assert node_port["spec"]["externalTrafficPolicy"] == "Cluster"


def test_namespace_secret_storage_defaults():
    ns = apply("", "Namespace", {"metadata": {"name": "dev"}})
    assert ns["spec"]["finalizers"] == ["kubernetes"] and ns["status"]["phase"] == "Active"
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == "dev"
    secret = apply("", "Secret", {"stringData": {"a": "hi"}})
    assert secret == {"type": "Opaque", "data": {"a": "aGk="}}
    assert apply("", "PersistentVolumeClaim", {"spec": {}})["spec"]["volumeMode"] == "Filesystem"
    assert apply("", "PersistentVolume", {"spec": {}})["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    sc = apply("storage.k8s.io", "StorageClass", {"provisioner": "x"})
    assert sc["reclaimPolicy"] == "Delete" and sc["volumeBindingMode"] == "Immediate"
    assert apply("scheduling.k8s.io", "PriorityClass", {"value": 1})["preemptionPolicy"] == "PreemptLowerPriority"


def test_network_policy_types():
    assert apply("networking.k8s.io", "NetworkPolicy", {"spec": {}})["spec"]["policyTypes"] == ["Ingress"]
    with_egress = apply("networking.k8s.io", "NetworkPolicy", {"spec": {"egress": [{"ports": [{"port": 53}]}]}})
    assert with_egress["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert with_egress["spec"]["egress"][0]["ports"][0]["protocol"] == "TCP"


def test_rbac_subject_api_group():
    rb = apply("rbac.authorization.k8s.io", "RoleBinding", {"subjects": [
        {"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "s", "namespace": "d"}]})
    assert rb["subjects"][0]["apiGroup"] == "rbac.authorization.k8s.io"
    assert rb["subjects"][1]["apiGroup"] == ""


def test_hpa_and_endpointslice():
    hpa = apply("autoscaling", "HorizontalPodAutoscaler", {"spec": {"maxReplicas": 3}})
    assert hpa["spec"]["minReplicas"] == 1
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 80
    assert "behavior" not in hpa["spec"]
    eps = apply("discovery.k8s.io", "EndpointSlice", {"ports": [{"port": 80}]})
    assert eps["ports"][0]["protocol"] == "TCP"


def test_kinds_without_defaults_untouched():
    lease = {"spec": {"holderIdentity": "x"}}
    assert apply("coordination.k8s.io", "Lease", lease) == {"spec": {"holderIdentity": "x"}}

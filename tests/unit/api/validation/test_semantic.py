import copy

import pytest

from navarch.api import defaults, errors
from navarch.api.resources import REGISTRY
from navarch.api.validation import semantic

POD = REGISTRY.by_kind("", "v1", "Pod")
SERVICE = REGISTRY.by_kind("", "v1", "Service")
NAMESPACE = REGISTRY.by_kind("", "v1", "Namespace")
CONFIGMAP = REGISTRY.by_kind("", "v1", "ConfigMap")
SECRET = REGISTRY.by_kind("", "v1", "Secret")
PVC = REGISTRY.by_kind("", "v1", "PersistentVolumeClaim")
DEPLOYMENT = REGISTRY.by_kind("apps", "v1", "Deployment")
STATEFULSET = REGISTRY.by_kind("apps", "v1", "StatefulSet")
JOB = REGISTRY.by_kind("batch", "v1", "Job")
CRONJOB = REGISTRY.by_kind("batch", "v1", "CronJob")
INGRESS = REGISTRY.by_kind("networking.k8s.io", "v1", "Ingress")
ROLEBINDING = REGISTRY.by_kind("rbac.authorization.k8s.io", "v1", "RoleBinding")
CLUSTERROLE = REGISTRY.by_kind("rbac.authorization.k8s.io", "v1", "ClusterRole")


def make_pod(name="p", ns="default", **spec):
    base = {"containers": [{"name": "app", "image": "nginx"}]}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": base}


def make_deployment(labels=None, selector=None, **spec):
    labels = {"app": "web"} if labels is None else labels
    base = {"selector": {"matchLabels": {"app": "web"}} if selector is None else selector,
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}
    base.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": base}


def defaulted(resource, obj):
    obj = copy.deepcopy(obj)
    defaults.apply_defaults(resource, obj)
    return obj


def shown(causes):
    return [(c.field, c.message) for c in causes]


SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")

CREATE_CASES = [
    ("pod-valid", POD, make_pod(), []),
    ("pod-name-required", POD, {**make_pod(), "metadata": {"namespace": "default"}},
     [("metadata.name", "Required value: name or generateName is required")]),
    ("pod-generate-name-only", POD, {**make_pod(), "metadata": {"generateName": "web-", "namespace": "default"}}, []),
    ("pod-bad-name", POD, make_pod(name="Web_1"), [("metadata.name", f'Invalid value: "Web_1": {SUBDOMAIN_MSG}')]),
    ("pod-namespace-required", POD, make_pod(ns=""), [("metadata.namespace", "Required value")]),
    ("pod-no-containers", POD, make_pod(containers=[]), [("spec.containers", "Required value")]),
    ("container-image-required", POD, make_pod(containers=[{"name": "a"}]),
     [("spec.containers[0].image", "Required value")]),
    ("container-name-required", POD, make_pod(containers=[{"image": "x"}]),
     [("spec.containers[0].name", "Required value")]),
    ("duplicate-container", POD, make_pod(containers=[{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]),
     [("spec.containers[1].name", 'Duplicate value: "a"')]),
    ("port-range", POD, make_pod(containers=[{"name": "a", "image": "x", "ports": [{"containerPort": 0}, {"containerPort": 70000}]}]),
     [("spec.containers[0].ports[0].containerPort", "Required value"),
      ("spec.containers[0].ports[1].containerPort", "Invalid value: 70000: must be between 1 and 65535, inclusive")]),
    ("port-protocol", POD, make_pod(containers=[{"name": "a", "image": "x", "ports": [{"containerPort": 80, "protocol": "HTTP"}]}]),
     [("spec.containers[0].ports[0].protocol", 'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"')]),
    ("restart-policy", POD, make_pod(restartPolicy="Sometimes"),
     [("spec.restartPolicy", 'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"')]),
    ("volume-mount-not-found", POD, make_pod(containers=[{"name": "a", "image": "x", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}]),
     [("spec.containers[0].volumeMounts[0].name", 'Not found: "data"')]),
    ("bad-label", POD, {**make_pod(), "metadata": {"name": "p", "namespace": "default", "labels": {"app": "-x"}}},
     [("metadata.labels", 'Invalid value: "-x": a valid label must be an empty string or consist of alphanumeric '
       "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
       "'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")]),
    ("requests-over-limits", POD, make_pod(containers=[{"name": "a", "image": "x", "resources": {
        "limits": {"cpu": "500m"}, "requests": {"cpu": "1"}}}]),
     [("spec.containers[0].resources.requests", 'Invalid value: "1": must be less than or equal to cpu limit of 500m')]),
    ("namespace-label-name", NAMESPACE, {"metadata": {"name": "my.ns"}},
     [("metadata.name", 'Invalid value: "my.ns": a lowercase RFC 1123 label must consist of lower case alphanumeric '
       "characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
       "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")]),
    ("namespace-no-namespace-field", NAMESPACE, {"metadata": {"name": "a", "namespace": "b"}},
     [("metadata.namespace", "Forbidden: not allowed on this type")]),
    ("service-dns1035", SERVICE, {"metadata": {"name": "1web", "namespace": "default"},
                                  "spec": {"ports": [{"port": 80}]}},
     [("metadata.name", 'Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters '
       "or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
       "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")]),
    ("service-ports-required", SERVICE, {"metadata": {"name": "s", "namespace": "default"}, "spec": {}},
     [("spec.ports", "Required value")]),
    ("service-type", SERVICE, {"metadata": {"name": "s", "namespace": "default"},
                               "spec": {"type": "Magic", "ports": [{"port": 80}]}},
     [("spec.type", 'Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"')]),
    ("service-port-names", SERVICE, {"metadata": {"name": "s", "namespace": "default"},
                                     "spec": {"ports": [{"port": 80}, {"port": 443, "name": "https"}]}},
     [("spec.ports[0].name", "Required value")]),
    ("service-port-range", SERVICE, {"metadata": {"name": "s", "namespace": "default"},
                                     "spec": {"ports": [{"port": 0}]}},
     [("spec.ports[0].port", "Invalid value: 0: must be between 1 and 65535, inclusive"),
      # targetPort defaults to the (invalid) port, and upstream reports it too.
      ("spec.ports[0].targetPort", "Invalid value: 0: must be between 1 and 65535, inclusive")]),
    ("configmap-key", CONFIGMAP, {"metadata": {"name": "c", "namespace": "default"}, "data": {"a b": "x"}},
     [("data[a b]", "Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or "
       "'.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")]),
    ("secret-tls-keys", SECRET, {"metadata": {"name": "s", "namespace": "default"}, "type": "kubernetes.io/tls", "data": {}},
     [("data[tls.crt]", "Required value"), ("data[tls.key]", "Required value")]),
    ("deployment-valid", DEPLOYMENT, make_deployment(), []),
    ("deployment-selector-mismatch", DEPLOYMENT, make_deployment(labels={"app": "other"}),
     [("spec.template.metadata.labels",
       'Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`')]),
    ("deployment-selector-required", DEPLOYMENT, {**make_deployment(), "spec": {
        "template": make_deployment()["spec"]["template"]}},
     [("spec.selector", "Required value")]),
    ("deployment-empty-selector", DEPLOYMENT, make_deployment(selector={}),
     [("spec.selector", "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
       "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment")]),
    ("deployment-negative-replicas", DEPLOYMENT, make_deployment(replicas=-1),
     [("spec.replicas", "Invalid value: -1: must be greater than or equal to 0")]),
    ("deployment-restart-policy", DEPLOYMENT, make_deployment(template={
        "metadata": {"labels": {"app": "web"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "a", "image": "b"}]}}),
     [("spec.template.spec.restartPolicy", 'Unsupported value: "Never": supported values: "Always"')]),
    ("statefulset-name-is-label", STATEFULSET, {"metadata": {"name": "a.b", "namespace": "default"}, "spec": {
        "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {}}}},
     [("metadata.name", 'Invalid value: "a.b": ' + (
         "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
         "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
         "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"))]),
    ("job-restart-always", JOB, {"metadata": {"name": "j", "namespace": "default"}, "spec": {
        "template": {"spec": {"restartPolicy": "Always", "containers": [{"name": "a", "image": "b"}]}}}},
     [("spec.template.spec.restartPolicy", 'Unsupported value: "Always": supported values: "OnFailure", "Never"')]),
    ("cronjob-name-length", CRONJOB, {"metadata": {"name": "c" * 53, "namespace": "default"}, "spec": {
        "schedule": "*/1 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "a", "image": "b"}]}}}}}},
     [("metadata.name", f'Invalid value: "{"c" * 53}": must be no more than 52 characters')]),
    ("cronjob-schedule", CRONJOB, {"metadata": {"name": "c", "namespace": "default"}, "spec": {
        "schedule": "", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "a", "image": "b"}]}}}}}},
     [("spec.schedule", "Required value")]),
    ("ingress-path-type", INGRESS, {"metadata": {"name": "i", "namespace": "default"}, "spec": {"rules": [{"http": {
        "paths": [{"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}},
     [("spec.rules[0].http.paths[0].pathType", "Required value: pathType must be specified")]),
    ("rolebinding-roleref-kind", ROLEBINDING, {"kind": "RoleBinding", "metadata": {"name": "rb", "namespace": "default"},
                                               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Thing", "name": "x"},
                                               "subjects": [{"kind": "User", "name": "u", "apiGroup": "rbac.authorization.k8s.io"}]},
     [("roleRef.kind", 'Unsupported value: "Thing": supported values: "Role", "ClusterRole"')]),
    ("clusterrole-verbs", CLUSTERROLE, {"kind": "ClusterRole", "metadata": {"name": "system:x"},
                                        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": []}]},
     [("rules[0].verbs", "Required value: verbs must contain at least one value")]),
    ("pvc-required", PVC, {"metadata": {"name": "c", "namespace": "default"}, "spec": {}},
     [("spec.accessModes", "Required value: at least 1 access mode is required"),
      ("spec.resources[storage]", "Required value")]),
]


@pytest.mark.parametrize("resource,obj,expected", [c[1:] for c in CREATE_CASES], ids=[c[0] for c in CREATE_CASES])
def test_create(resource, obj, expected):
    assert shown(semantic.validate(resource, defaulted(resource, obj))) == expected


def test_invalid_status_message_shape():
    causes = semantic.validate(POD, defaulted(POD, make_pod(containers=[{"name": "a"}])))
    err = errors.invalid("Pod", "", "p", causes)
    assert err.code == 422
    assert err.message == 'Pod "p" is invalid: spec.containers[0].image: Required value'


def stored(resource, obj, rv="5"):
    obj = defaulted(resource, obj)
    obj["metadata"]["resourceVersion"] = rv
    obj["metadata"]["uid"] = "u-1"
    return obj


POD_FORBIDDEN_PREFIX = (
    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
    "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n")


def test_pod_update_image_allowed():
    old = stored(POD, make_pod())
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:2"
    new["metadata"]["labels"] = {"x": "y"}
    assert semantic.validate(POD, new, old) == []


def test_pod_update_other_field_forbidden():
    old = stored(POD, make_pod())
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "protocol": "TCP"}]
    causes = semantic.validate(POD, new, old)
    assert [c.field for c in causes] == ["spec"]
    assert causes[0].reason == "FieldValueForbidden"
    assert causes[0].message.startswith(POD_FORBIDDEN_PREFIX)
    assert "Containers" in causes[0].message


def test_pod_update_tolerations_only_additions():
    old = stored(POD, make_pod(tolerations=[{"key": "a", "operator": "Exists"}]))
    added = copy.deepcopy(old)
    added["spec"]["tolerations"].append({"key": "b", "operator": "Exists"})
    assert semantic.validate(POD, added, old) == []
    removed = copy.deepcopy(old)
    removed["spec"]["tolerations"] = []
    assert [c.field for c in semantic.validate(POD, removed, old)] == ["spec"]


def test_pod_update_active_deadline_may_only_shrink():
    old = stored(POD, make_pod(activeDeadlineSeconds=100))
    new = copy.deepcopy(old)
    new["spec"]["activeDeadlineSeconds"] = 200
    assert shown(semantic.validate(POD, new, old)) == [
        ("spec.activeDeadlineSeconds", "Invalid value: 200: must be less than or equal to previous value")]


def test_update_requires_resource_version_and_keeps_uid():
    old = stored(POD, make_pod())
    new = copy.deepcopy(old)
    del new["metadata"]["resourceVersion"]
    new["metadata"]["uid"] = "other"
    assert shown(semantic.validate(POD, new, old)) == [
        ("metadata.resourceVersion", 'Invalid value: "": must be specified for an update'),
        ("metadata.uid", 'Invalid value: "other": field is immutable')]


def test_deployment_selector_immutable():
    old = stored(DEPLOYMENT, make_deployment())
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"app": "web2"}}
    new["spec"]["template"]["metadata"]["labels"] = {"app": "web2"}
    assert shown(semantic.validate(DEPLOYMENT, new, old)) == [
        ("spec.selector", 'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web2"}, '
         "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable")]


def test_service_cluster_ip_immutable():
    base = {"metadata": {"name": "s", "namespace": "default"},
            "spec": {"ports": [{"port": 80}], "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"]}}
    old = stored(SERVICE, base)
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"] = "10.96.0.11"
    new["spec"]["clusterIPs"] = ["10.96.0.11"]
    assert shown(semantic.validate(SERVICE, new, old)) == [
        ("spec.clusterIPs[0]", 'Invalid value: []string{"10.96.0.11"}: may not change once set')]


def test_immutable_configmap():
    old = stored(CONFIGMAP, {"metadata": {"name": "c", "namespace": "default"}, "data": {"a": "1"}, "immutable": True})
    new = copy.deepcopy(old)
    new["data"]["a"] = "2"
    assert shown(semantic.validate(CONFIGMAP, new, old)) == [
        ("data", "Forbidden: field is immutable when `immutable` is set")]


def test_secret_type_immutable():
    old = stored(SECRET, {"metadata": {"name": "s", "namespace": "default"}})
    new = copy.deepcopy(old)
    new["type"] = "kubernetes.io/basic-auth"
    new["data"] = {"username": "YQ=="}
    assert shown(semantic.validate(SECRET, new, old)) == [
        ("type", 'Invalid value: "kubernetes.io/basic-auth": field is immutable')]


def test_pvc_spec_immutable_except_requests():
    old = stored(PVC, {"metadata": {"name": "c", "namespace": "default"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    grown = copy.deepcopy(old)
    grown["spec"]["resources"]["requests"]["storage"] = "2Gi"
    assert semantic.validate(PVC, grown, old) == []
    changed = copy.deepcopy(old)
    changed["spec"]["accessModes"] = ["ReadWriteMany"]
    causes = semantic.validate(PVC, changed, old)
    assert [c.field for c in causes] == ["spec"]
    assert causes[0].message.startswith(
        "Forbidden: spec is immutable after creation except resources.requests for bound claims")


def test_statefulset_spec_update_forbidden():
    base = {"metadata": {"name": "db", "namespace": "default"}, "spec": {
        "serviceName": "db", "selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    old = stored(STATEFULSET, base)
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 3
    assert semantic.validate(STATEFULSET, new, old) == []
    new["spec"]["serviceName"] = "other"
    assert shown(semantic.validate(STATEFULSET, new, old)) == [
        ("spec", "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
         "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")]


def test_job_update_selector_and_template_immutable():
    base = {"metadata": {"name": "j", "namespace": "default"}, "spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "a", "image": "b"}]}}}}
    old = stored(JOB, base)
    defaults.apply_job_selector(old, "uid-1")
    assert semantic.validate(JOB, copy.deepcopy(old), old) == []
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "c"
    assert [c.field for c in semantic.validate(JOB, new, old)] == ["spec.template"]


def test_virtual_resources_skip():
    review = REGISTRY.by_kind("authorization.k8s.io", "v1", "SelfSubjectAccessReview")
    assert semantic.validate(review, {"spec": {}}) == []

"""Container environments as upstream's makeEnvironmentVariables builds them."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from navarch.client.errors import ApiError
from navarch.kubelet import envvars
from navarch.kubelet.runtimes.interface import CreateContainerConfigError


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


class FakeClient:
    """Serves ConfigMaps, Secrets and Services from dicts keyed (resource, namespace, name)."""

    def __init__(self, objects: dict[tuple[str, str, str], dict[str, Any]] | None = None) -> None:
        self.objects = dict(objects or {})
        self.gets: list[tuple[str, str, str]] = []

    async def get(self, res: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        self.gets.append((res, namespace or "", name))
        try:
            return self.objects[(res, namespace or "", name)]
        except KeyError:
            raise ApiError({"kind": "Status", "code": 404, "reason": "NotFound",
                            "message": f'{res} "{name}" not found'}) from None

    async def list_all(self, res: str, namespace: str | None = None) -> dict[str, Any]:
        return {"items": [o for (r, ns, _), o in self.objects.items() if r == res and ns == namespace]}


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, obj: Any, event_type: str, reason: str, message: str) -> None:
        self.events.append((event_type, reason, message))


def configmap(name: str, data: dict[str, str], ns: str = "default") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "data": data}


def secret(name: str, data: dict[str, str], ns: str = "default") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "data": {k: b64(v) for k, v in data.items()}}


def service(name: str, ip: str, ports: list[dict[str, Any]], ns: str = "default") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"clusterIP": ip, "ports": ports}}


def make_pod(container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "default", "uid": "u-1",
                     "labels": {"app": "web", "tier": "a\"b"}, "annotations": {"note": "hi"}},
        "spec": {"nodeName": "n1", "serviceAccountName": "sa", "containers": [container], **spec},
        "status": {"podIP": "10.42.0.5", "podIPs": [{"ip": "10.42.0.5"}]},
    }


async def env_of(container: dict[str, Any], client: FakeClient | None = None, services: list | None = None,
                 pod: dict[str, Any] | None = None, **kw: Any) -> dict[str, str]:
    pod = pod or make_pod(container)
    return await envvars.container_env(
        pod, container, client=client or FakeClient(), node_name="n1", host_ips=["192.168.1.10"],
        node_allocatable={"cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi"},
        services=[] if services is None else services, **kw)


@pytest.mark.parametrize("text,want", [
    ("$(A)", "1"),
    ("x$(A)y$(B)", "x1y2"),
    ("$$(A)", "$(A)"),
    ("$$$(A)", "$1"),
    ("$(UNKNOWN)", "$(UNKNOWN)"),
    ("$(A", "$(A"),
    ("$A", "$A"),
    ("a$", "a$"),
    ("$", "$"),
    ("$()", "$()"),
    ("$(A)$(A)", "11"),
    ("no refs", "no refs"),
], ids=["simple", "two", "escaped", "escape-then-ref", "unknown", "unterminated", "no-paren", "trailing",
        "lone", "empty-name", "repeat", "plain"])
def test_expand(text: str, want: str) -> None:
    assert envvars.expand(text, {"A": "1", "B": "2"}) == want


async def test_order_and_expansion() -> None:
    client = FakeClient({("configmaps", "default", "cm"): configmap("cm", {"FROM_CM": "cm", "X": "from-cm"})})
    container = {"name": "c", "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "P_"},
                                          {"configMapRef": {"name": "cm"}}],
                 "env": [{"name": "A", "value": "a"},
                         {"name": "B", "value": "$(A)-$(C)-$(X)-$(P_FROM_CM)"},
                         {"name": "C", "value": "c"},
                         {"name": "X", "value": "overridden"},
                         {"name": "EMPTY", "value": ""}]}
    env = await env_of(container, client)
    assert env["B"] == "a-$(C)-from-cm-cm"  # later entries are not yet defined
    assert env["X"] == "overridden"
    assert env["P_FROM_CM"] == "cm" and env["FROM_CM"] == "cm"
    assert env["EMPTY"] == ""
    assert client.gets == [("configmaps", "default", "cm")]  # fetched once per build


async def test_service_variables_visible_and_not_overriding() -> None:
    svcs = [service("my-svc", "10.96.0.20", [{"port": 80, "name": "http"}])]
    container = {"name": "c", "env": [{"name": "URL", "value": "http://$(MY_SVC_SERVICE_HOST):$(MY_SVC_SERVICE_PORT)"},
                                      {"name": "MY_SVC_SERVICE_PORT", "value": "mine"}]}
    env = await env_of(container, services=svcs)
    assert env["URL"] == "http://10.96.0.20:80"
    assert env["MY_SVC_SERVICE_PORT"] == "mine"
    assert env["MY_SVC_SERVICE_HOST"] == "10.96.0.20"


async def test_configmap_and_secret_refs() -> None:
    client = FakeClient({("configmaps", "default", "cm"): configmap("cm", {"k": "v"}),
                         ("secrets", "default", "s"): secret("s", {"pw": "hunter2", "USER": "u"})})
    container = {"name": "c", "envFrom": [{"secretRef": {"name": "s"}}],
                 "env": [{"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
                         {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
                         {"name": "OPT_KEY", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nope",
                                                                                "optional": True}}},
                         {"name": "OPT_CM", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k",
                                                                               "optional": True}}}],
                 }
    container["envFrom"].append({"configMapRef": {"name": "gone", "optional": True}})
    env = await env_of(container, client)
    assert env["CM"] == "v" and env["PW"] == "hunter2" and env["USER"] == "u"
    assert "OPT_KEY" not in env and "OPT_CM" not in env


@pytest.mark.parametrize("entry,message", [
    ({"envFrom": [{"configMapRef": {"name": "x"}}]}, 'configmap "x" not found'),
    ({"envFrom": [{"secretRef": {"name": "x"}}]}, 'secret "x" not found'),
    ({"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "k"}}}]}, 'configmap "x" not found'),
    ({"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]},
     "couldn't find key k in ConfigMap default/cm"),
    ({"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
     "couldn't find key k in Secret default/s"),
    ({"env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}]},
     "field label not supported: spec.bogus"),
    ({"env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName['x']"}}}]},
     "field label does not support subscript: spec.nodeName['x']"),
    ({"env": [{"name": "A", "valueFrom": {"fieldRef": {"apiVersion": "v2", "fieldPath": "metadata.name"}}}]},
     "unsupported pod version: v2"),
    ({"env": [{"name": "A", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}}]},
     "unsupported container resource : limits.gpu"),
    ({"env": [{"name": "A", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "containerName": "zz"}}}]},
     "container zz not found"),
], ids=["envfrom-cm", "envfrom-secret", "cm-missing", "cm-key", "secret-key", "field", "subscript", "version",
        "resource", "container"])
async def test_errors(entry: dict[str, Any], message: str) -> None:
    client = FakeClient({("configmaps", "default", "cm"): configmap("cm", {}),
                         ("secrets", "default", "s"): secret("s", {})})
    with pytest.raises(CreateContainerConfigError) as err:
        await env_of({"name": "c", **entry}, client)
    assert str(err.value) == message


async def test_api_error_other_than_not_found_is_reported() -> None:
    class Forbidden(FakeClient):
        async def get(self, res: str, name: str, namespace: str | None = None) -> dict[str, Any]:
            raise ApiError({"kind": "Status", "code": 403, "reason": "Forbidden",
                            "message": 'configmaps "x" is forbidden'})

    with pytest.raises(CreateContainerConfigError, match="is forbidden"):
        await env_of({"name": "c", "envFrom": [{"configMapRef": {"name": "x", "optional": True}}]}, Forbidden())


@pytest.mark.parametrize("path,want", [
    ("metadata.name", "p"),
    ("metadata.namespace", "default"),
    ("metadata.uid", "u-1"),
    ("metadata.labels['app']", "web"),
    ("metadata.labels['missing']", ""),
    ("metadata.annotations['note']", "hi"),
    ("metadata.labels", 'app="web"\ntier="a\\"b"'),
    ("spec.nodeName", "n1"),
    ("spec.host", "n1"),
    ("spec.serviceAccountName", "sa"),
    ("status.hostIP", "192.168.1.10"),
    ("status.hostIPs", "192.168.1.10"),
    ("status.podIP", "10.42.0.5"),
    ("status.podIPs", "10.42.0.5"),
])
async def test_field_refs(path: str, want: str) -> None:
    container = {"name": "c", "env": [{"name": "V", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}]}
    assert (await env_of(container))["V"] == want


async def test_pod_ips_from_sandbox_win() -> None:
    container = {"name": "c", "env": [{"name": "V", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}}]}
    assert (await env_of(container, pod_ips=["fd00::5", "10.1.1.1"]))["V"] == "10.1.1.1,fd00::5"


@pytest.mark.parametrize("resource,divisor,resources,want", [
    ("limits.cpu", None, {}, "4"),                                     # node allocatable
    ("limits.cpu", "1m", {}, "4000"),
    ("limits.cpu", "1m", {"limits": {"cpu": "500m"}}, "500"),
    ("limits.cpu", "1", {"limits": {"cpu": "500m"}}, "1"),             # rounded up
    ("limits.cpu", None, {"limits": {"cpu": "0"}}, "4"),               # zero counts as unset
    ("requests.cpu", "1m", {"requests": {"cpu": "250m"}}, "250"),
    ("requests.cpu", None, {}, "0"),
    ("limits.memory", None, {}, str(8 * 2 ** 30)),
    ("limits.memory", "1Mi", {"limits": {"memory": "100M"}}, "96"),
    ("requests.memory", "1Mi", {"requests": {"memory": "64Mi"}}, "64"),
    ("limits.ephemeral-storage", "1Gi", {}, "100"),
    ("requests.ephemeral-storage", "1k", {"requests": {"ephemeral-storage": "1500"}}, "2"),
], ids=lambda v: str(v))
async def test_resource_field_refs(resource: str, divisor: str | None, resources: dict, want: str) -> None:
    ref: dict[str, Any] = {"resource": resource}
    if divisor:
        ref["divisor"] = divisor
    container = {"name": "c", "resources": resources, "env": [{"name": "V", "valueFrom": {"resourceFieldRef": ref}}]}
    assert (await env_of(container))["V"] == want


async def test_resource_field_ref_of_another_container() -> None:
    other = {"name": "side", "resources": {"limits": {"memory": "32Mi"}}}
    container = {"name": "c", "env": [{"name": "V", "valueFrom": {"resourceFieldRef": {
        "containerName": "side", "resource": "limits.memory", "divisor": "1Mi"}}}]}
    pod = make_pod(container)
    pod["spec"]["containers"].append(other)
    assert (await env_of(container, pod=pod))["V"] == "32"


async def test_unusable_envfrom_keys_skipped_with_event() -> None:
    client = FakeClient({("configmaps", "default", "cm"): configmap("cm", {"a=b": "1", "1ok": "2", "fine": "3"})})
    recorder = Recorder()
    env = await env_of({"name": "c", "envFrom": [{"configMapRef": {"name": "cm"}}]}, client, recorder=recorder)
    assert env == {"1ok": "2", "fine": "3"}
    message = ("Keys [a=b] from the EnvFrom configMap default/cm were skipped since they are "
               "considered invalid environment variable names.")
    assert recorder.events == [("Warning", "InvalidEnvironmentVariableNames", message)]


def test_service_env_shape() -> None:
    svcs = [
        service("kubernetes", "10.96.0.1", [{"name": "https", "port": 443, "protocol": "TCP"}]),
        service("web-app", "10.96.0.9", [{"port": 8080}, {"name": "dns-udp", "port": 53, "protocol": "UDP"}], ns="shop"),
        service("headless", "None", [{"port": 80}], ns="shop"),
        service("elsewhere", "10.96.0.7", [{"port": 80}], ns="other"),
    ]
    env = envvars.service_env(svcs, "shop", True)
    assert env == {
        "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
        "KUBERNETES_SERVICE_PORT_HTTPS": "443", "KUBERNETES_PORT": "tcp://10.96.0.1:443",
        "KUBERNETES_PORT_443_TCP": "tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_443_TCP_PORT": "443", "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.1",
        "WEB_APP_SERVICE_HOST": "10.96.0.9", "WEB_APP_SERVICE_PORT": "8080",
        "WEB_APP_SERVICE_PORT_DNS_UDP": "53", "WEB_APP_PORT": "tcp://10.96.0.9:8080",
        "WEB_APP_PORT_8080_TCP": "tcp://10.96.0.9:8080", "WEB_APP_PORT_8080_TCP_PROTO": "tcp",
        "WEB_APP_PORT_8080_TCP_PORT": "8080", "WEB_APP_PORT_8080_TCP_ADDR": "10.96.0.9",
        "WEB_APP_PORT_53_UDP": "udp://10.96.0.9:53", "WEB_APP_PORT_53_UDP_PROTO": "udp",
        "WEB_APP_PORT_53_UDP_PORT": "53", "WEB_APP_PORT_53_UDP_ADDR": "10.96.0.9",
    }
    assert set(envvars.service_env(svcs, "shop", False)) == {k for k in env if k.startswith("KUBERNETES_")}


def test_service_env_ipv6() -> None:
    env = envvars.service_env([service("v6", "fd00::1", [{"port": 80}])], "default")
    assert env["V6_PORT"] == "tcp://[fd00::1]:80"


async def test_services_read_through_client_when_not_given() -> None:
    client = FakeClient({("services", "default", "kubernetes"): service("kubernetes", "10.96.0.1", [{"port": 443}]),
                         ("services", "shop", "db"): service("db", "10.96.0.3", [{"port": 5432}], ns="shop")})
    container = {"name": "c"}
    pod = make_pod(container)
    pod["metadata"]["namespace"] = "shop"
    env = await envvars.container_env(pod, container, client=client, node_name="n1", host_ips=[],
                                      node_allocatable={})
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1" and env["DB_SERVICE_PORT"] == "5432"
    pod["spec"]["enableServiceLinks"] = False
    env = await envvars.container_env(pod, container, client=client, node_name="n1", host_ips=[],
                                      node_allocatable={})
    assert "DB_SERVICE_PORT" not in env and env["KUBERNETES_SERVICE_PORT"] == "443"


def test_format_map_quotes_like_go() -> None:
    assert envvars.format_map({"b": "x\ny", "a": "tab\there", "c": "é\x01"}) == \
        'a="tab\\there"\nb="x\\ny"\nc="é\\x01"'

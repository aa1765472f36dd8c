"""PodConfigurator: what a container's config gets from the pod beyond the runtime."""

import pytest

from navarch.kubelet.podconfig import NO_ISOLATION_MESSAGE, PodConfigurator
from navarch.kubelet.runtimes.interface import CreateContainerConfigError


def configurator(tmp_path, isolated=False):
    cfg = PodConfigurator(None, str(tmp_path), node_name="n1", host_ips=lambda: ["10.0.0.1"],
                          node_allocatable={"cpu": "2", "memory": "4Gi"}, isolated=isolated)
    cfg.services = lambda: []
    return cfg


def pod(container):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
            "spec": {"nodeName": "n1", "containers": [container], "enableServiceLinks": False}}


async def test_command_args_env_and_limits(tmp_path):
    c = {"name": "c", "image": "busybox", "command": ["sh", "-c", "echo $(GREETING)"], "args": ["$(WHO)", "$$(WHO)"],
         "env": [{"name": "GREETING", "value": "hi"}, {"name": "WHO", "value": "you"}],
         "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}}}
    inputs = await configurator(tmp_path).container_inputs(pod(c), c, ["10.0.0.7"])
    assert inputs.command == ("sh", "-c", "echo hi")
    assert inputs.args == ("you", "$(WHO)")
    assert inputs.envs["GREETING"] == "hi"
    assert (inputs.cpu_millis, inputs.memory_limit_bytes) == (250, 64 * 2**20)
    tiny = {**c, "resources": {"limits": {"cpu": "0.0001"}}}
    assert (await configurator(tmp_path).container_inputs(pod(tiny), tiny, [])).cpu_millis == 1


async def test_missing_configmap_is_a_config_error(tmp_path):
    class NoObjects:
        async def get(self, res, name, namespace=None, **kw):
            from navarch.client.errors import ApiError
            raise ApiError({"code": 404, "reason": "NotFound", "message": f'{res} "{name}" not found'})

    c = {"name": "c", "image": "busybox", "command": ["true"],
         "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]}
    cfg = configurator(tmp_path)
    cfg.client = NoObjects()
    with pytest.raises(CreateContainerConfigError, match='configmap "cm" not found'):
        await cfg.container_inputs(pod(c), c, [])


def test_volumes_without_isolation_are_announced(tmp_path):
    c = {"name": "c", "image": "busybox", "command": ["true"], "volumeMounts": [{"name": "v", "mountPath": "/data"}]}
    assert configurator(tmp_path).not_isolated_warning(pod(c)) == NO_ISOLATION_MESSAGE
    assert configurator(tmp_path, isolated=True).not_isolated_warning(pod(c)) is None
    plain = {"name": "c", "image": "busybox", "command": ["true"]}
    assert configurator(tmp_path).not_isolated_warning(pod(plain)) is None

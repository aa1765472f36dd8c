from __future__ import annotations

import pytest

from navarch.cli.main import build_parser
from navarch.cloudprovider import manager
from navarch.cloudprovider.providers import get_provider
from navarch.cloudprovider.stub import StubCloud


@pytest.mark.parametrize("spec,want", [
    (("*",), ["cloud-node", "cloud-node-lifecycle", "service-lb", "route"]),
    (("*", "-route"), ["cloud-node", "cloud-node-lifecycle", "service-lb"]),
    (("service,cloud-node",), ["service-lb", "cloud-node"]),
    (("*,-service-lb-controller",), ["cloud-node", "cloud-node-lifecycle", "route"]),
], ids=["all", "minus", "aliases", "upstream-long-names"])
def test_enabled(spec: tuple[str, ...], want: list[str]) -> None:
    assert manager.enabled(spec) == want


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown controller"):
        manager.enabled(("bogus",))
    with pytest.raises(ValueError, match="unknown cloud provider 'aws'; known: stub"):
        get_provider("aws")


def test_every_controller_loads() -> None:
    assert {manager.load(n).name for n in manager.CONTROLLERS} == set(manager.CONTROLLERS)


def test_cli_flags_become_the_config() -> None:
    from navarch.cli.cloud_controller_manager import config_from_args

    args = build_parser().parse_args(["cloud-controller-manager", "--kubeconfig", "kc", "--lb-ip-pool", "node",
                                      "--controllers", "*,-route", "--no-leader-elect"])
    config = config_from_args(args)
    assert (config.kubeconfig, config.cloud_provider, config.leader_elect) == ("kc", "stub", False)
    assert config.options["lb-ip-pool"] == "node"
    cloud = get_provider(config.cloud_provider, config.options)
    assert isinstance(cloud, StubCloud) and cloud.node_mode

"""``navarch sim-nodes`` flags."""

from __future__ import annotations

import argparse

import pytest

from navarch.cli import sim_nodes


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sim_nodes.register(parser.add_subparsers())
    return parser.parse_args(["sim-nodes", "--kubeconfig", "k", *argv])


def test_flags_become_the_config() -> None:
    args = parse("--count", "5", "--cpu", "8", "--lease-interval", "2", "--node-labels", "a=b,c=",
                 "--register-with-taints", "gpu=yes:NoSchedule,spot:PreferNoSchedule")
    cfg = sim_nodes.config_from_args(args)
    assert (cfg.count, cfg.cpu, cfg.lease_renew_interval) == (5, "8", 2.0)
    assert cfg.labels == {"a": "b", "c": ""}
    assert cfg.taints == ({"key": "gpu", "value": "yes", "effect": "NoSchedule"},
                          {"key": "spot", "effect": "PreferNoSchedule"})
    assert cfg.names()[:2] == ["sim-node-0", "sim-node-1"]


@pytest.mark.parametrize("taint", ["gpu=yes", "gpu:Sometimes"])
def test_bad_taints_are_refused(taint: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        sim_nodes.parse_taints(taint)

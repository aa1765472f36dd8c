"""The admission chain's per-resource steps, and the RESOURCES plugins declare."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from navarch.api.resources import REGISTRY
from navarch.apiserver.admission import Attributes, Chain, default_plugins


class Recorder:
    def __init__(self, name: str, calls: list[str], resources: frozenset | None = None,
                 admit: bool = True, validate: bool = True) -> None:
        self.NAME = name
        if resources is not None:
            self.RESOURCES = resources
        if admit:
            async def do_admit(a: Attributes) -> None:
                calls.append(f"{name}.admit")
            self.admit = do_admit
        if validate:
            async def do_validate(a: Attributes) -> None:
                calls.append(f"{name}.validate")
            self.validate = do_validate


def attrs(group: str, plural: str, obj: dict[str, Any] | None = None, operation: str = "CREATE") -> Attributes:
    version = REGISTRY.preferred_version(group)
    r = REGISTRY.get(group, version, plural)
    assert r is not None
    async def lookup(*_: Any) -> None:
        raise AssertionError("a plugin not meant for this resource looked something up")
    return Attributes(operation=operation, resource=r, subresource=None, namespace="ns", name="x",
                      obj=obj if obj is not None else {"metadata": {"name": "x", "namespace": "ns"}},
                      old=None if operation == "CREATE" else {"metadata": {"name": "x"}},
                      user=None, dry_run=False, lookup=lookup)


async def test_mutating_steps_run_before_validating_ones_and_declared_resources_are_skipped() -> None:
    calls: list[str] = []
    chain = Chain([Recorder("all", calls), Recorder("pods", calls, frozenset({("", "pods")})),
                   Recorder("only-validate", calls, admit=False)])
    await chain.run(attrs("", "pods"))
    assert calls == ["all.admit", "pods.admit", "all.validate", "pods.validate", "only-validate.validate"]
    calls.clear()
    await chain.run(attrs("", "events"))
    assert calls == ["all.admit", "all.validate", "only-validate.validate"]


@pytest.mark.parametrize(("group", "plural"), [("", "events"), ("", "configmaps"), ("apps", "deployments"),
                                                ("", "services"), ("", "secrets")])
@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
async def test_plugins_declaring_resources_do_nothing_for_others(group: str, plural: str, operation: str) -> None:
    # The chain skips them there; this checks the declaration against what the plugin does.
    for plugin in default_plugins():
        resources = getattr(plugin, "RESOURCES", None)
        if resources is None or (group, plural) in resources:
            continue
        a = attrs(group, plural, {"metadata": {"name": "x", "namespace": "ns"}, "spec": {"a": 1}}, operation)
        before = copy.deepcopy(a.obj)
        for step in (getattr(plugin, "admit", None), getattr(plugin, "validate", None)):
            if step is not None:
                await step(a)
        assert a.obj == before and not a.warnings, plugin.NAME

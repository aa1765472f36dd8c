from __future__ import annotations

from typing import Any

import pytest

from navarch.api.errors import StatusError
from navarch.api.schema import load_schema
from navarch.apiserver.patching import apply_patch

DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"


def make_deployment() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a", "image": "v1"}]}}}}


@pytest.mark.parametrize(("content_type", "body", "image"), [
    pytest.param("application/json-patch+json",
                 b'[{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "v2"}]', "v2",
                 id="json"),
    pytest.param("application/merge-patch+json; charset=utf-8",
                 b'{"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "v3"}]}}}}', "v3",
                 id="merge-replaces-list"),
    pytest.param("application/strategic-merge-patch+json;charset=UTF-8",
                 b'{"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "v4"}]}}}}', "v4",
                 id="strategic"),
])
def test_dispatch_by_content_type(content_type: str, body: bytes, image: str) -> None:
    doc = make_deployment()
    result = apply_patch(content_type, doc, body, load_schema(), DEPLOYMENT)
    assert result["spec"]["template"]["spec"]["containers"][0]["image"] == image
    assert doc == make_deployment()


@pytest.mark.parametrize("content_type", [
    "application/apply-patch+yaml", "application/apply-patch+yaml; charset=utf-8", "application/json",
    "text/plain", "",
])
def test_unsupported_types(content_type: str) -> None:
    with pytest.raises(StatusError) as info:
        apply_patch(content_type, make_deployment(), b"{}", load_schema(), DEPLOYMENT)
    assert (info.value.code, info.value.reason) == (415, "UnsupportedMediaType")
    assert "application/strategic-merge-patch+json" in info.value.message

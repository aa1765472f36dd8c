"""The Table as a whole: shape, includeObject variants, list metadata, watch events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from navarch.api.errors import StatusError
from navarch.api.resources import REGISTRY, RESOURCES
from navarch.apiserver.printers import columns_for, row_cells, to_table

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
PODS = REGISTRY.get("", "v1", "pods")
DEPLOYMENTS = REGISTRY.get("apps", "v1", "deployments")
assert PODS is not None and DEPLOYMENTS is not None


def make_pod(name: str, rv: str = "7", phase: str = "Running") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "resourceVersion": rv, "uid": f"uid-{name}",
                         "creationTimestamp": "2024-05-01T11:59:00Z", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            "status": {"phase": phase}}


def test_table_shape_with_partial_metadata_by_default() -> None:
    pods = [make_pod("a"), make_pod("b")]
    table = to_table(PODS, pods, list_meta={"resourceVersion": "42", "continue": "tok", "remainingItemCount": 3},
                     now=NOW)
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42", "continue": "tok", "remainingItemCount": 3}
    assert table["columnDefinitions"] == columns_for(PODS)
    assert [r["cells"][0] for r in table["rows"]] == ["a", "b"]
    assert table["rows"][0]["cells"][4] == "60s"
    obj = table["rows"][0]["object"]
    assert obj == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": pods[0]["metadata"]}
    assert "conditions" not in table["rows"][0]
    orjson.dumps(table)  # serialisable as is


def test_column_definition_fields() -> None:
    col = columns_for(PODS)[0]
    assert set(col) == {"name", "type", "format", "description", "priority"}
    assert (col["name"], col["type"], col["format"], col["priority"]) == ("Name", "string", "name", 0)
    assert col["description"]


def test_include_object_none_omits_objects() -> None:
    for value in (None, "None"):
        table = to_table(PODS, [make_pod("a")], include_object=value, now=NOW)
        assert "object" not in table["rows"][0]


def test_include_object_object_carries_api_version_and_kind() -> None:
    pod = make_pod("a")
    table = to_table(PODS, [pod], include_object="Object", now=NOW)
    assert table["rows"][0]["object"] is pod
    bare = {k: v for k, v in pod.items() if k not in ("apiVersion", "kind")}
    row_obj = to_table(PODS, [bare], include_object="Object", now=NOW)["rows"][0]["object"]
    assert (row_obj["apiVersion"], row_obj["kind"]) == ("v1", "Pod")
    assert "kind" not in bare  # the input object is left alone
    dep = {"metadata": {"name": "d"}, "spec": {}}
    row_obj = to_table(DEPLOYMENTS, [dep], include_object="Object", now=NOW)["rows"][0]["object"]
    assert (row_obj["apiVersion"], row_obj["kind"]) == ("apps/v1", "Deployment")


def test_empty_include_object_means_metadata() -> None:
    row = to_table(PODS, [make_pod("a")], include_object="", now=NOW)["rows"][0]
    assert row["object"]["kind"] == "PartialObjectMetadata"


def test_unknown_include_object_is_bad_request() -> None:
    with pytest.raises(StatusError) as info:
        to_table(PODS, [], include_object="Everything", now=NOW)
    assert info.value.code == 400
    assert info.value.message == ('includeObject: Unsupported value: "Everything": supported values: '
                                  '"Metadata", "None", "Object"')


def test_single_object_table_carries_its_resource_version() -> None:
    assert to_table(PODS, [make_pod("a", rv="99")], now=NOW)["metadata"] == {"resourceVersion": "99"}
    assert to_table(PODS, [], now=NOW)["metadata"] == {}


def test_list_meta_drops_empty_fields() -> None:
    table = to_table(PODS, [], list_meta={"resourceVersion": "5", "continue": ""}, now=NOW)
    assert table["metadata"] == {"resourceVersion": "5"}
    assert table["rows"] == []


def test_watch_events_after_the_first_have_no_columns() -> None:
    table = to_table(PODS, [make_pod("a")], with_columns=False, now=NOW)
    assert table["columnDefinitions"] == []
    assert len(table["rows"]) == 1


def test_finished_pods_have_completed_row_condition() -> None:
    rows = to_table(PODS, [make_pod("a", phase="Succeeded"), make_pod("b", phase="Failed")], now=NOW)["rows"]
    assert [r["conditions"][0]["type"] for r in rows] == ["Completed", "Completed"]
    assert [r["conditions"][0]["reason"] for r in rows] == ["Succeeded", "Failed"]


def test_naive_now_is_utc() -> None:
    naive = datetime(2024, 5, 1, 12, 0, 0)
    assert row_cells(PODS, make_pod("a"), naive)[4] == "60s"


def test_default_now_is_the_clock() -> None:
    pod = make_pod("a")
    pod["metadata"]["creationTimestamp"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert to_table(PODS, [pod])["rows"][0]["cells"][4] in ("0s", "1s", "2s")


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: f"{r.plural}.{r.group}")
def test_every_resource_has_a_name_column_and_matching_cells(resource: Any) -> None:
    cols = columns_for(resource)
    assert any(c["name"] == "Name" and c["format"] == "name" for c in cols)
    assert all(c["priority"] in (0, 1) for c in cols)
    obj = {"metadata": {"name": "x", "creationTimestamp": "2024-05-01T11:00:00Z"}}
    table = to_table(resource, [obj], now=NOW)
    assert len(table["rows"][0]["cells"]) == len(cols)
    orjson.dumps(table)


def test_many_rows() -> None:
    pods = [make_pod(f"p{i}") for i in range(2000)]
    table = to_table(PODS, pods, include_object="Metadata", now=NOW)
    assert len(table["rows"]) == 2000
    assert table["rows"][-1]["cells"][0] == "p1999"

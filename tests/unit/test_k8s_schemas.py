"""Every generated resource passes the API server's checks: CRD schemas, strictly."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from rayobs.k8s import DEFAULTS, Dashboard, render
from tests.k8s_validation import (
    core_errors,
    crd_schemas,
    custom_resource_errors,
    document_errors,
    unknown_fields,
)

REPO = Path(__file__).resolve().parents[2]


def _documents() -> list[tuple[str, dict[str, Any]]]:
    """The committed resources, plus a ConfigMap from a sample dashboard (there may be none)."""
    found = []
    for path in sorted((REPO / "k8s").rglob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    sample = Dashboard("sample.json", json.dumps({"title": "sample", "panels": []}))
    found += [("sample", d) for m in render(DEFAULTS, [sample]) for d in m.documents if
              d["kind"] == "ConfigMap"]  # fmt: skip
    return found


DOCUMENTS = _documents()


@pytest.mark.parametrize(
    "document", [d for _, d in DOCUMENTS], ids=[f"{n}:{d['kind']}" for n, d in DOCUMENTS]
)
def test_resource_is_valid(document: dict[str, Any]) -> None:
    assert document_errors(document) == []


def test_every_kind_we_ship_was_checked_against_its_crd() -> None:
    kinds = {d["kind"] for _, d in DOCUMENTS}
    assert {"PodMonitor", "PrometheusRule", "RayCluster", "ConfigMap"} <= kinds
    served = {kind for _, kind in crd_schemas()}
    assert {"PodMonitor", "PrometheusRule", "RayCluster", "ServiceMonitor"} <= served


def _committed(kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(d for _, d in DOCUMENTS if d["kind"] == kind))


def test_misspelled_fields_are_caught_where_jsonschema_alone_passes() -> None:
    monitor = _committed("PodMonitor")
    monitor["spec"]["sampleLimt"] = 10
    monitor["spec"]["podMetricsEndpoints"][0]["relabelings"][0]["targetLable"] = "x"
    schema = crd_schemas()[("monitoring.coreos.com/v1", "PodMonitor")]
    assert list(jsonschema.Draft7Validator(schema).iter_errors(monitor)) == []
    errors = custom_resource_errors(monitor)
    assert "unknown field .spec.sampleLimt" in errors
    assert "unknown field .spec.podMetricsEndpoints[0].relabelings[0].targetLable" in errors

    cluster = _committed("RayCluster")
    container = cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    container["resource"] = container.pop("resources")
    assert any(e.endswith("containers[0].resource") for e in custom_resource_errors(cluster))


def test_type_errors_duplicates_and_bad_metadata_are_caught() -> None:
    rule = _committed("PrometheusRule")
    rule["spec"]["groups"][0]["rules"][0]["for"] = 10
    rule["metadata"]["labels"]["release"] = "has space"
    errors = custom_resource_errors(rule)
    assert any("spec.groups.0.rules.0.for" in e for e in errors), errors
    assert any("release" in e for e in errors), errors

    cluster = _committed("RayCluster")
    container = cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    container["ports"].append(dict(container["ports"][0]))
    assert any("duplicate" in e for e in custom_resource_errors(cluster))

    cluster["metadata"]["nmae"] = "x"
    assert any("nmae" in e for e in custom_resource_errors(cluster))


def test_maps_and_preserved_fields_admit_any_key() -> None:
    schema = {
        "type": "object",
        "properties": {
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "fixed": {"type": "object", "properties": {"a": {"type": "string"}}},
        },
    }
    document = {"labels": {"any": "x"}, "free": {"deep": {"x": 1}}, "fixed": {"b": "x"}}
    assert list(unknown_fields(document, schema)) == [".fixed.b"]


def test_core_resources_use_kubernetes_own_strict_schema() -> None:
    configmap = _committed("ConfigMap")
    assert core_errors(configmap) == []
    configmap["dta"] = configmap.pop("data")
    assert core_errors(configmap) != []

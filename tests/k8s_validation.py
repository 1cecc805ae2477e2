"""Validate generated Kubernetes documents as an API server would, without a cluster.

Custom resources are checked against the served version's ``openAPIV3Schema``
from the CRDs in ``<repo>/../shared/schemas/crds`` with jsonschema, and then
walked field by field: JSON-schema validation alone accepts a misspelled field,
which the API server silently prunes (a ``sampleLimt`` would just vanish).
Core resources go through kubernetes-validate's bundled, strict schemas.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO = Path(__file__).resolve().parent.parent
CRD_DIR = REPO.parent / "shared" / "schemas" / "crds"
KUBERNETES_VERSION = "1.32.0"

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """``(apiVersion, kind)`` → the openAPIV3Schema of every served version of every CRD."""
    if not CRD_DIR.is_dir():
        raise FileNotFoundError(
            f"no CRD schemas at {CRD_DIR}: clone the repository with shared/ beside it"
        )
    schemas = {}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the RayCluster CRD is ~1 MB
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for crd in yaml.load_all(path.read_text(), Loader=loader):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served"):
                    schema = version["schema"]["openAPIV3Schema"]
                    schemas[(f"{group}/{version['name']}", kind)] = schema
    return schemas


def unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> Iterator[str]:
    """Paths of fields the schema does not declare (those the API server would prune)."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    for keyword in ("allOf", "anyOf", "oneOf"):
        # Structural schemas declare fields outside these; the branches only constrain.
        for branch in schema.get(keyword, []):
            if "properties" in branch or "items" in branch:
                yield from unknown_fields(value, {**schema, **branch, keyword: []}, path)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        embedded = schema.get("x-kubernetes-embedded-resource")
        for key, item in value.items():
            where = f"{path}.{key}"
            if key in properties:
                yield from unknown_fields(item, properties[key], where)
            elif isinstance(extra, dict):
                yield from unknown_fields(item, extra, where)
            elif extra is True or (embedded and key in ("apiVersion", "kind", "metadata")):
                continue
            else:
                yield where
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from unknown_fields(item, schema["items"], f"{path}[{index}]")


def list_key_clashes(value: Any, schema: dict[str, Any], path: str = "") -> Iterator[str]:
    """Lists declared ``x-kubernetes-list-type: map|set`` holding duplicate keys."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            child = properties.get(key, extra if isinstance(extra, dict) else None)
            if child is not None:
                yield from list_key_clashes(item, child, f"{path}.{key}")
    elif isinstance(value, list):
        list_type = schema.get("x-kubernetes-list-type")
        keys = schema.get("x-kubernetes-list-map-keys", [])
        if list_type == "map" and keys:
            seen = [tuple(item.get(k) for k in keys) for item in value]
        elif list_type == "set":
            seen = [repr(item) for item in value]
        else:
            seen = []
        for duplicate in sorted({repr(s) for s in seen if seen.count(s) > 1}):
            yield f"{path}: duplicate {keys or 'item'} {duplicate}"
        if isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                yield from list_key_clashes(item, schema["items"], f"{path}[{index}]")


def metadata_problems(metadata: dict[str, Any]) -> Iterator[str]:
    """What the API server refuses in metadata that no schema says: names, label syntax."""
    for field in ("name", "namespace"):
        name = metadata.get(field, "")
        if not name or len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
            yield f"metadata.{field} {name!r} is not a DNS-1123 subdomain"
    for key, label in metadata.get("labels", {}).items():
        if not _qualified_name(key):
            yield f"label key {key!r} is not a qualified name"
        if not isinstance(label, str) or len(label) > 63 or not _LABEL_VALUE.match(label):
            yield f"label {key}={label!r}: not a valid label value"
    for key, note in metadata.get("annotations", {}).items():
        if not _qualified_name(key):
            yield f"annotation key {key!r} is not a qualified name"
        if not isinstance(note, str):
            yield f"annotation {key}={note!r}: values are strings"


def _qualified_name(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    return len(name) <= 63 and bool(_LABEL_NAME.match(name))


def object_meta_errors(metadata: dict[str, Any]) -> list[str]:
    """ObjectMeta against Kubernetes' own (strict) schema, as kubernetes-validate ships it."""
    probe = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}
    return core_errors(probe)


def core_errors(document: dict[str, Any]) -> list[str]:
    """A core resource validated by kubernetes-validate (strict: unknown fields refused)."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path)
        return [f"{where}: {exc.message}"]
    return []


def custom_resource_errors(document: dict[str, Any]) -> list[str]:
    """Every problem the API server would report or silently prune, for a custom resource."""
    key = (document.get("apiVersion", ""), document.get("kind", ""))
    schema = crd_schemas().get(key)
    if schema is None:
        return [f"no served CRD version for {key} in {CRD_DIR}"]
    validator = jsonschema.Draft7Validator(schema)
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(document)
    ]
    # The CRD schema says only `metadata: {type: object}`; the API server applies ObjectMeta.
    meta_schema = {k: v for k, v in schema.get("properties", {}).items() if k != "metadata"}
    structural = {**schema, "properties": {**meta_schema, "metadata": {"type": "object"}}}
    body = {k: v for k, v in document.items() if k != "metadata"}
    errors += [f"unknown field {p}" for p in unknown_fields(body, structural)]
    errors += list(list_key_clashes(document, schema))
    metadata = document.get("metadata", {})
    errors += list(metadata_problems(metadata))
    errors += [f"metadata: {e}" for e in object_meta_errors(metadata)]
    return errors


def document_errors(document: dict[str, Any]) -> list[str]:
    """Validate any generated document: custom resources by CRD, core ones by Kubernetes."""
    if (document.get("apiVersion"), document.get("kind")) in crd_schemas():
        return custom_resource_errors(document)
    return core_errors(document) + list(metadata_problems(document.get("metadata", {})))

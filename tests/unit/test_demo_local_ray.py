"""The throwaway local Ray's settings, without starting Ray."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rayobs.demo._local_ray import head_command, loopback_env, new_token, prepare_environment


def test_a_token_is_fresh_and_private(tmp_path: Path) -> None:
    first = new_token(tmp_path)
    text = first.read_text()
    assert len(text) == 64 and int(text, 16) >= 0
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    assert new_token(tmp_path).read_text() != text


def test_loopback_env_points_at_no_other_cluster(tmp_path: Path) -> None:
    base = {"RAY_ADDRESS": "10.0.0.1:6379", "RAY_AUTH_TOKEN": "other", "KEEP": "1"}
    env = loopback_env(tmp_path / "auth_token", base)
    assert env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"
    assert (env["RAY_AUTH_MODE"], env["RAY_AUTH_TOKEN_PATH"]) == (
        "token",
        str(tmp_path / "auth_token"),
    )
    assert "RAY_ADDRESS" not in env and "RAY_AUTH_TOKEN" not in env
    assert env["KEEP"] == "1"
    assert base["RAY_ADDRESS"] == "10.0.0.1:6379"  # the caller's mapping is left alone


def test_prepare_environment_keeps_the_callers_auth_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    prepare_environment(tmp_path)
    assert os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"
    assert os.environ["RAY_AUTH_TOKEN_PATH"] == str(tmp_path / "auth_token")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    prepare_environment(tmp_path / "elsewhere")
    assert os.environ["RAY_AUTH_TOKEN_PATH"] == str(tmp_path / "auth_token")


def test_head_command_listens_on_loopback(tmp_path: Path) -> None:
    with_dashboard = head_command(tmp_path, gcs_port=1, metrics_port=2, dashboard_port=3)
    assert with_dashboard[1:4] == ["start", "--head", "--block"]
    assert "--node-ip-address=127.0.0.1" in with_dashboard
    assert {"--port=1", "--metrics-export-port=2", "--dashboard-port=3"} <= set(with_dashboard)
    assert "--dashboard-host=127.0.0.1" in with_dashboard
    assert f"--temp-dir={tmp_path}" in with_dashboard
    without = head_command(tmp_path, gcs_port=1, metrics_port=2, num_cpus=1)
    assert "--include-dashboard=false" in without and "--num-cpus=1" in without

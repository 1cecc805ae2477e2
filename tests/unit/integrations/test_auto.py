"""rayobs.auto without a cluster: what @ray.remote instruments, what it leaves, the patches."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import ray
import ray.actor
import ray.remote_function
from ray._private import worker

import rayobs
import rayobs.auto
from rayobs.calls._decorator import is_instrumented
from rayobs.integrations import auto, data
from rayobs.testing import MemoryBackend, capture_metrics
from tests import requires

BASE = {"app": "", "component": "", "team": ""}


@pytest.fixture
def auto_mode() -> Iterator[None]:
    rayobs.auto.instrument()
    try:
        yield
    finally:
        rayobs.auto.uninstrument()


def calls(m: MemoryBackend, name: str, kind: str, outcome: str = "ok") -> float | None:
    return m.value("rayobs_calls", **BASE, kind=kind, name=name, outcome=outcome)


def _run(remote_function: Any, *args: Any) -> Any:
    """What the worker runs for a remote function: its (wrapped) function."""
    return remote_function._function(*args)


def test_instrument_and_uninstrument_patch_and_restore_everything_and_are_idempotent() -> None:
    requires.module("pyarrow", "data")
    import ray.data

    before = {
        "make_remote": worker._make_remote,
        "runtime_env": worker._maybe_modify_runtime_env,
        "task": vars(ray.remote_function.RemoteFunction)["_remote"],
        "actor": vars(ray.actor.ActorClass)["_remote"],
        "method": vars(ray.actor.ActorMethod)["_remote"],
        "put": ray.put,
        **{name: vars(ray.data.Dataset)[name] for name in data.TRANSFORMS},
    }

    def now() -> dict[str, Any]:
        return {
            "make_remote": worker._make_remote,
            "runtime_env": worker._maybe_modify_runtime_env,
            "task": vars(ray.remote_function.RemoteFunction)["_remote"],
            "actor": vars(ray.actor.ActorClass)["_remote"],
            "method": vars(ray.actor.ActorMethod)["_remote"],
            "put": ray.put,
            **{name: vars(ray.data.Dataset)[name] for name in data.TRANSFORMS},
        }

    for _ in range(2):
        rayobs.auto.instrument()
        rayobs.auto.instrument()
        patched = now()
        assert rayobs.auto.is_instrumented() and data.is_instrumented()
        assert all(patched[k] is not before[k] for k in before), patched
        rayobs.auto.uninstrument()
        rayobs.auto.uninstrument()
        assert now() == before
        assert not rayobs.auto.is_instrumented() and not data.is_instrumented()


def test_remote_functions_and_actor_classes_are_instrumented_with_defaults(auto_mode: None) -> None:
    def resize(x: int) -> int:
        """Resize."""
        if x < 0:
            raise ValueError(x)
        return x * 2

    class Inventory:
        def __init__(self) -> None:
            self.n = 0

        def reserve(self, n: int) -> int:
            self.n += n
            return self.n

        def __call__(self, n: int) -> int:
            return n

        def _private(self) -> int:
            return 0

    from ray import remote  # the name bound before: the patch is where Ray builds, not on it

    task = remote(resize)
    with_options = ray.remote(num_cpus=0.5, max_retries=0)(resize)
    actor = ray.remote(Inventory)
    assert with_options._default_options == {"num_cpus": 0.5, "max_retries": 0}
    assert task._function.__doc__ == "Resize." and task._function.__name__ == "resize"
    with capture_metrics() as m:
        assert _run(task, 2) == 4 and _run(with_options, 3) == 6
        with pytest.raises(ValueError):
            _run(task, -1)
        inventory = Inventory()
        assert inventory.reserve(2) == 2 and inventory(5) == 5 and inventory._private() == 0
        rayobs.flush()
    assert calls(m, "resize", "task") == 2
    assert calls(m, "resize", "task", "error") == 1
    for method in ("__init__", "reserve", "__call__"):
        assert calls(m, f"Inventory.{method}", "actor") == 1, method
    assert calls(m, "Inventory._private", "actor") is None
    assert actor.__ray_metadata__.modified_class.__ray_actor_class__ is Inventory


def test_ray_and_rayobs_code_and_skipped_objects_are_left_alone(auto_mode: None) -> None:
    def in_ray(x: int) -> int:
        return x

    in_ray.__module__ = "ray.data._internal.fake"

    def in_rayobs(x: int) -> int:
        return x

    in_rayobs.__module__ = "rayobs.demo.fake"

    @rayobs.auto.skip
    def hot(x: int) -> int:
        return x

    @rayobs.auto.skip
    class Base:
        def m(self) -> int:
            return 1

    class Derived(Base):  # a skipped class's subclasses are skipped too
        pass

    for fn in (in_ray, in_rayobs, hot):
        assert not is_instrumented(ray.remote(fn)._function), fn
    for cls in (Base, Derived):
        ray.remote(cls)
        assert not is_instrumented(cls) and not is_instrumented(cls.m)
    assert rayobs.auto.is_skipped(hot) and not rayobs.auto.is_skipped(in_ray)


def test_skip_refuses_what_it_cannot_mark() -> None:
    def plain(x: int) -> int:
        return x

    with pytest.raises(TypeError, match=r"below @ray\.remote"):
        rayobs.auto.skip(ray.remote(plain))
    with pytest.raises(TypeError, match="takes a function or a class"):
        rayobs.auto.skip(len)


def test_an_explicit_instrument_wins_over_auto_mode(auto_mode: None) -> None:
    def work(x: int) -> int:
        return x

    class Ledger:
        def add(self, x: int) -> int:
            return x

        def split(self) -> int:
            return 0

    above = rayobs.instrument(ray.remote(work), name="above")  # after auto's
    below = ray.remote(rayobs.instrument(work, name="below"))  # before auto's
    dropin = rayobs.remote(max_retries=1)(work)
    ledger = rayobs.instrument(ray.remote(Ledger), name="ledger", include=("add",))
    with capture_metrics() as m:
        for fn in (above, below, dropin):
            _run(fn, 1)
        original = ledger.__ray_metadata__.modified_class.__ray_actor_class__
        original().add(1)
        original().split()
        rayobs.flush()
    assert calls(m, "above", "task") == 1 and calls(m, "below", "task") == 1
    assert calls(m, "work", "task") == 1  # rayobs.remote: instrumented once
    assert calls(m, "ledger.add", "actor") == 1
    assert calls(m, "Ledger.split", "actor") is None and calls(m, "ledger.split", "actor") is None
    assert calls(m, "ledger.__init__", "actor") is None


def test_a_failure_to_instrument_never_reaches_ray_remote(
    auto_mode: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rayobs.calls import _decorator

    def broken(target: Any) -> Any:
        raise RuntimeError("instrumentation bug")

    monkeypatch.setattr(_decorator, "instrument_auto", broken)

    def fine(x: int) -> int:
        return x

    remote = ray.remote(fine)
    assert remote._function is fine
    assert rayobs.recording_failures() == {("rayobs.auto", "instrument", "RuntimeError"): 1}


def test_a_patch_ray_no_longer_allows_leaves_the_others_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_remote = worker._make_remote
    submit = vars(ray.remote_function.RemoteFunction)["_remote"]
    monkeypatch.delattr(worker, "_maybe_modify_runtime_env")  # as if Ray had moved it
    rayobs.auto.instrument()
    try:
        assert worker._make_remote is not make_remote
        assert vars(ray.remote_function.RemoteFunction)["_remote"] is not submit
        assert rayobs.recording_failures() == {
            ("rayobs.auto", "patch workers", "AttributeError"): 1
        }
    finally:
        rayobs.auto.uninstrument()
    assert worker._make_remote is make_remote


def test_serialization_notes_name_every_unpicklable_path() -> None:
    from rayobs.integrations import _pickling

    lock = threading.Lock()
    error = TypeError("Could not serialize the argument")
    shipped = iter([("args[0]", 1), ("args[1]", {"lock": lock, "also": [threading.RLock()]})])
    _pickling.add_notes(error, shipped)
    [note] = error.__notes__
    assert note.startswith("rayobs: args[1] is not serializable: 2 objects cannot be pickled.")
    assert "args[1]['lock']" in note and "args[1]['also'][0]" in note
    _pickling.add_notes(error, iter([("again", lock)]))  # once per exception
    assert len(error.__notes__) == 1
    fine = ValueError("not about pickling")
    _pickling.add_notes(fine, iter([("args[0]", 1)]))
    assert not hasattr(fine, "__notes__")


def test_serialization_notes_never_raise() -> None:
    from rayobs.integrations import _pickling

    def broken() -> Iterator[tuple[str, Any]]:
        raise RuntimeError("inspector bug")
        yield  # pragma: no cover

    error = TypeError("x")
    _pickling.add_notes(error, broken())
    assert not hasattr(error, "__notes__")
    assert rayobs.recording_failures() == {
        ("rayobs.auto", "serialization notes", "RuntimeError"): 1
    }


def test_ray_init_hands_auto_mode_on_to_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYOBS_TRACE", "1")
    monkeypatch.setenv("RAYOBS_TRACE_EXPORTER", "jsonl:/tmp/spans")
    monkeypatch.delenv("RAYOBS_TRACE_SAMPLE_RATIO", raising=False)
    assert auto.with_auto_mode(None) == {
        "env_vars": {
            "RAYOBS_AUTO": "1",
            "RAYOBS_TRACE": "1",
            "RAYOBS_TRACE_EXPORTER": "jsonl:/tmp/spans",
        },
        "worker_process_setup_hook": "rayobs.auto.setup_worker",
    }
    own = auto.with_auto_mode(
        {"pip": ["x"], "env_vars": {"RAYOBS_TRACE": "0"}, "worker_process_setup_hook": "a.b"}
    )
    assert own["pip"] == ["x"] and own["worker_process_setup_hook"] == "a.b"
    assert own["env_vars"]["RAYOBS_TRACE"] == "0"  # the job's own values are kept
    # a submitted job's hook, already taken in by Ray
    taken = {"env_vars": {"__RAY_WORKER_PROCESS_SETUP_HOOK_ENV_VAR": "a.b"}}
    assert "worker_process_setup_hook" not in auto.with_auto_mode(taken)
    off = {"env_vars": {"RAYOBS_AUTO": "0"}}
    assert auto.with_auto_mode(off) == off  # the job turned it off for its workers
    with_hook = worker._maybe_modify_runtime_env
    rayobs.auto.instrument()
    try:
        assert worker._maybe_modify_runtime_env(None, True)["env_vars"]["RAYOBS_AUTO"] == "1"
    finally:
        rayobs.auto.uninstrument()
    assert worker._maybe_modify_runtime_env is with_hook


def test_setup_worker_turns_auto_mode_on() -> None:
    rayobs.auto.setup_worker()
    try:
        assert rayobs.auto.is_instrumented()
    finally:
        rayobs.auto.uninstrument()


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_rayobs_auto_1_turns_it_on_at_import_without_importing_ray() -> None:
    out = _python(
        """
        import sys
        import rayobs
        import rayobs.auto
        print("ray" in sys.modules, rayobs.auto.is_instrumented())
        import ray
        from ray._private import worker
        print(worker._make_remote.__code__.co_filename.endswith("auto.py"))
        """,
        RAYOBS_AUTO="1",
    )
    assert out.stdout.split() == ["False", "True", "True"], out.stderr
    off = _python("import rayobs.auto; print(rayobs.auto.is_instrumented())", RAYOBS_AUTO="0")
    assert off.stdout.strip() == "False", off.stderr
    bad = _python("import rayobs.auto; print(rayobs.auto.is_instrumented())", RAYOBS_AUTO="maybe")
    assert bad.returncode == 0 and bad.stdout.strip() == "False"
    assert "RAYOBS_AUTO='maybe' is not a boolean" in bad.stderr


def test_environment_puts_the_start_up_directory_first() -> None:
    env = auto.environment({"PYTHONPATH": f"/app:{auto.BOOTSTRAP_DIR}", "KEEP": "x"}, trace=True)
    assert env["PYTHONPATH"] == f"{auto.BOOTSTRAP_DIR}:/app"
    assert env["RAYOBS_AUTO"] == "1" and env["RAYOBS_TRACE"] == "1" and env["KEEP"] == "x"
    assert "RAYOBS_TRACE_EXPORTER" not in env
    assert "RAYOBS_TRACE" not in auto.environment({})

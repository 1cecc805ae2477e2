"""rayobs.instrument on callable classes: ``__call__`` is measured by default, other dunders not."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
import ray

import rayobs
from rayobs.testing import MemoryBackend, capture_metrics

BASE = {"app": "", "component": "", "team": ""}


def calls(m: MemoryBackend, name: str, outcome: str = "ok") -> float | None:
    return m.value("rayobs_calls", **BASE, kind="actor", name=name, outcome=outcome)


class AddOne:
    """What Ray Data gets as a callable class: built once, called once per batch."""

    def __init__(self, step: int = 1) -> None:
        self.step = step

    def __call__(self, batch: dict[str, list[int]]) -> dict[str, list[int]]:
        if not batch["id"]:
            raise ValueError("empty batch")
        return {"id": [i + self.step for i in batch["id"]]}

    def __repr__(self) -> str:
        return f"AddOne({self.step})"

    def __len__(self) -> int:
        return 1


class AsyncAddOne:
    async def __call__(self, x: int) -> int:
        await asyncio.sleep(0)
        if x < 0:
            raise KeyError(x)
        return x + 1


def test_call_and_init_are_measured_other_dunders_are_not() -> None:
    cls = rayobs.instrument(type("Plus", (AddOne,), {}))
    with capture_metrics() as m:
        add = cls(2)
        assert add({"id": [1, 2]}) == {"id": [3, 4]}
        assert add({"id": [5]}) == {"id": [7]}
        with pytest.raises(ValueError, match="empty batch"):
            add({"id": []})
        assert repr(add) == "AddOne(2)" and len(add) == 1
        rayobs.flush()
    assert calls(m, "Plus.__init__") == 1
    assert calls(m, "Plus.__call__") == 2
    assert calls(m, "Plus.__call__", "error") == 1
    assert calls(m, "Plus.__repr__") is None
    assert calls(m, "Plus.__len__") is None
    assert inspect.signature(cls.__call__) == inspect.signature(AddOne.__call__)


def test_async_call_stays_a_coroutine_function() -> None:
    cls = rayobs.instrument(type("AsyncPlus", (AsyncAddOne,), {}))
    assert inspect.iscoroutinefunction(cls.__call__)

    async def run(add: Any) -> list[Any]:
        return await asyncio.gather(add(1), add(2), add(-1), return_exceptions=True)

    with capture_metrics() as m:
        out = asyncio.run(run(cls()))
        rayobs.flush()
    assert out[:2] == [2, 3] and isinstance(out[2], KeyError)
    assert calls(m, "AsyncPlus.__call__") == 2
    assert calls(m, "AsyncPlus.__call__", "error") == 1


def test_include_and_exclude_still_choose() -> None:
    left_out = rayobs.instrument(type("NoCall", (AddOne,), {}), exclude=("__call__",))
    only_repr = rayobs.instrument(type("OnlyRepr", (AddOne,), {}), include=("__repr__",))
    with capture_metrics() as m:
        left_out()({"id": [1]})
        repr(only_repr())
        only_repr()({"id": [1]})
        rayobs.flush()
    assert calls(m, "NoCall.__init__") == 1
    assert calls(m, "NoCall.__call__") is None
    assert calls(m, "OnlyRepr.__repr__") == 1
    assert calls(m, "OnlyRepr.__call__") is None and calls(m, "OnlyRepr.__init__") is None


def test_a_remote_callable_class_has_call_wrapped_with_its_options_kept() -> None:
    remote_cls = rayobs.instrument(
        ray.remote(max_restarts=1)(type("RemotePlus", (AddOne,), {})), name="remote_plus"
    )
    assert remote_cls._default_options["max_restarts"] == 1
    original = remote_cls.__ray_metadata__.modified_class.__ray_actor_class__
    with capture_metrics() as m:
        instance = original(3)
        assert instance({"id": [1]}) == {"id": [4]}
        rayobs.flush()
    assert calls(m, "remote_plus.__init__") == 1
    assert calls(m, "remote_plus.__call__") == 1
    # Ray sees the same methods, __call__ among them, with their signatures
    method_names = remote_cls.__ray_metadata__.method_meta.methods
    assert "__call__" in method_names


def test_instrumenting_a_callable_class_twice_measures_once() -> None:
    cls = rayobs.instrument(rayobs.instrument(type("Twice", (AddOne,), {})))
    with capture_metrics() as m:
        cls()({"id": [1]})
        rayobs.flush()
    assert calls(m, "Twice.__call__") == 1

"""rayobs.inspect._hints: every known offender family gets its own, concrete hint."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing.pool
import queue
import socket
import sqlite3
import sys
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rayobs import inspect_serializability
from rayobs.inspect import _hints as hints


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[[str], object]]:
    """Build one offender by family name, and close it afterwards."""
    opened: list[object] = []

    def build(kind: str) -> object:
        factories: dict[str, Callable[[], object]] = {
            "lock": threading.Lock,
            "rlock": threading.RLock,
            "condition": threading.Condition,
            "semaphore": lambda: threading.BoundedSemaphore(2),
            "event": threading.Event,
            "thread_pool": lambda: multiprocessing.pool.ThreadPool(1),
            "executor": lambda: concurrent.futures.ThreadPoolExecutor(1),
            "thread": lambda: threading.Thread(target=print),
            "socket": socket.socket,
            "file": lambda: open(tmp_path / "out.txt", "w"),  # noqa: SIM115
            "generator": lambda: (i for i in range(2)),
            "sqlite": lambda: sqlite3.connect(":memory:"),
            "cursor": lambda: sqlite3.connect(":memory:").cursor(),
            "handler": logging.StreamHandler,
            "queue": queue.Queue,
            "simple_queue": queue.SimpleQueue,
            "frame": sys._getframe,
        }
        obj = factories[kind]()
        opened.append(obj)
        return obj

    yield build
    for obj in opened:
        if isinstance(obj, multiprocessing.pool.Pool):
            obj.terminate()
            obj.join()
        elif isinstance(obj, concurrent.futures.Executor):
            obj.shutdown(wait=False)
        elif hasattr(obj, "close") and not isinstance(obj, types.GeneratorType):
            obj.close()


FAMILIES = {
    "lock": hints.LOCK,
    "rlock": hints.LOCK,
    "condition": hints.LOCK,
    "semaphore": hints.LOCK,
    "event": hints.LOCK,
    "thread_pool": hints.POOL,
    "executor": hints.POOL,
    "thread": hints.THREAD,
    "socket": hints.SOCKET,
    "file": hints.FILE,
    "generator": hints.GENERATOR,
    "sqlite": hints.DATABASE,
    "cursor": hints.DATABASE,
    "handler": hints.HANDLER,
    "queue": hints.QUEUE,
    "simple_queue": hints.QUEUE,
    "frame": hints.FRAME,
}


@pytest.mark.parametrize("kind", sorted(FAMILIES))
def test_known_offender_gets_its_family_hint(kind: str, make: Callable[[str], object]) -> None:
    obj = make(kind)

    report = inspect_serializability({"x": obj}, name="d")

    assert report.paths == ("d['x']",)
    assert report.failures[0].hint == FAMILIES[kind].hint


def test_every_family_hint_is_distinct_and_not_generic() -> None:
    families = [value for value in vars(hints).values() if isinstance(value, hints.Offender)]
    assert len({family.hint for family in families}) == len(families)
    assert all(
        family.hint != hints.GENERIC.hint for family in families if family is not hints.GENERIC
    )


def test_ray_metric_backend_object_points_to_rayobs_handles() -> None:
    from ray._raylet import Count

    report = inspect_serializability(Count("rayobs_hint_test", "d", ()), name="metric")

    assert report.failures[0].hint == hints.METRIC.hint
    assert "rayobs.Counter" in report.failures[0].hint


def test_asyncio_primitives_are_known() -> None:
    # An idle asyncio.Lock pickles; one in use (bound to a loop) does not.
    assert hints.known_offender(asyncio.Lock()) is hints.LOCK


def test_subclasses_match_through_the_mro() -> None:
    class MyLock(threading.Semaphore):
        pass

    assert hints.known_offender(MyLock()) is hints.LOCK


def test_client_packages_match_by_top_level_package() -> None:
    client_type = type("Connection", (), {"__module__": "psycopg2.extensions"})
    assert hints.known_offender(client_type()) is hints.DATABASE


def test_unknown_objects_fall_back() -> None:
    class Plain:
        pass

    error = TypeError("cannot pickle 'Plain' object")
    assert hints.offender_for(Plain(), error) is hints.GENERIC
    assert hints.offender_for(types.ModuleType("m"), error) is hints.MODULE
    deep = hints.offender_for([], RuntimeError("maximum recursion depth exceeded"))
    assert deep is hints.RECURSION


def test_c_extension_objects_are_recognized() -> None:
    import _csv

    writer = _csv.writer(sys.stdout)
    assert hints.offender_for(writer, TypeError("no")) is hints.C_EXTENSION


def test_too_deep_structure_is_one_failure() -> None:
    nested: list[object] = [threading.Lock()]
    for _ in range(sys.getrecursionlimit() * 2):
        nested = [nested]

    report = inspect_serializability(nested, name="nested")

    assert report.paths == ("nested",)
    assert report.failures[0].hint == hints.RECURSION.hint

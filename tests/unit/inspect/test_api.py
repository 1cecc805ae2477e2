"""rayobs.inspect._api and rayobs.inspect._walk: the search, its budgets and its semantics."""

from __future__ import annotations

import doctest
import functools
import importlib
import pickle
import subprocess
import sys
import textwrap
import threading
import types
from pathlib import Path
from typing import Any

import pytest

import rayobs
from rayobs.inspect import _api
from rayobs.inspect._api import check_at_decoration, inspect_serializability, load_cloudpickle
from rayobs.inspect._probe import Prober, RememberingProber
from rayobs.testing import assert_serializable


def script(source: str) -> dict[str, Any]:
    """Run ``source`` as a script's ``__main__`` would: its functions pickle by value."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(textwrap.dedent(source), namespace)
    return namespace


LOCKED_TASK = """
import threading
LOCK = threading.Lock()
def task(x):
    with LOCK:
        return x
"""


def test_serializable_object_costs_one_pickling(monkeypatch: pytest.MonkeyPatch) -> None:
    probes: list[object] = []
    original = Prober.__call__

    def counting(self: Prober, obj: object) -> Exception | None:
        probes.append(obj)
        return original(self, obj)

    monkeypatch.setattr(Prober, "__call__", counting)
    payload = {"rows": [list(range(10)) for _ in range(10)], "name": "x"}

    report = inspect_serializability(payload)

    assert report == rayobs.SerializabilityReport(serializable=True, root="dict")
    assert probes == [payload]


def test_walks_only_what_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    probes: list[object] = []
    original = Prober.__call__

    def counting(self: Prober, obj: object) -> Exception | None:
        probes.append(obj)
        return original(self, obj)

    monkeypatch.setattr(Prober, "__call__", counting)
    fine = [[1, 2], [3, 4]]
    bad = {"lock": threading.Lock()}

    report = inspect_serializability({"fine": fine, "bad": bad}, name="cfg")

    assert report.paths == ("cfg['bad']['lock']",)
    assert not any(probe is fine[0] for probe in probes)  # fine pickled, never taken apart


def test_report_names_type_error_and_hint() -> None:
    task = script(LOCKED_TASK)["task"]

    report = inspect_serializability(task)

    (failure,) = report.failures
    assert report.root == "task"
    assert failure.path == "task.__globals__['LOCK']"
    assert failure.type == "_thread.lock"
    assert failure.error == "TypeError: cannot pickle '_thread.lock' object"
    assert "inside the task" in failure.hint


def test_function_from_importable_module_is_pickled_by_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # cloudpickle ships an importable module's function as a reference, so its
    # globals never travel: Ray can ship it, and the report must agree.
    (tmp_path / "inspect_target_mod.py").write_text(textwrap.dedent(LOCKED_TASK))
    monkeypatch.syspath_prepend(str(tmp_path))
    import inspect_target_mod  # type: ignore[import-not-found]

    try:
        assert inspect_serializability(inspect_target_mod.task).serializable
        cloudpickle = load_cloudpickle()
        cloudpickle.register_pickle_by_value(inspect_target_mod)
        try:
            report = inspect_serializability(inspect_target_mod.task)
        finally:
            cloudpickle.unregister_pickle_by_value(inspect_target_mod)
        assert report.paths == ("task.__globals__['LOCK']",)
    finally:
        sys.modules.pop("inspect_target_mod", None)


def test_only_globals_the_code_names_are_walked() -> None:
    namespace = script(
        """
        import threading
        LOCK = threading.Lock()
        def task(x):
            return x.LOCK  # an attribute named LOCK, not the global
        """
    )
    assert inspect_serializability(namespace["task"]).serializable


def test_max_depth_cuts_and_says_so() -> None:
    namespace = script(
        """
        import threading
        class Node:
            def __init__(self, child=None):
                self.child = child
        leaf = Node()
        leaf.lock = threading.Lock()
        root = Node(Node(Node(leaf)))
        """
    )

    report = inspect_serializability(namespace["root"], name="root", max_depth=2)
    full = inspect_serializability(namespace["root"], name="root")

    assert report.truncated
    assert report.truncated_reason == "max_depth=2 reached at root.child.child"
    assert report.paths == ("root.child.child",)
    assert not full.truncated
    assert full.paths == ("root.child.child.child.lock",)


def test_max_nodes_cuts_and_says_so() -> None:
    locks = [[threading.Lock()] for _ in range(5)]

    report = inspect_serializability(locks, name="locks", max_nodes=3)

    assert report.truncated
    assert report.truncated_reason.startswith("max_nodes=3 reached")
    # What was probed is reported precisely; the rest is not silently dropped.
    assert report.paths[:1] == ("locks[0][0]",)
    assert len(report.failures) < 5


def test_budgets_are_validated() -> None:
    with pytest.raises(ValueError, match="max_depth"):
        inspect_serializability(1, max_depth=-1)
    with pytest.raises(ValueError, match="max_nodes"):
        inspect_serializability(1, max_nodes=0)


def test_cycles_terminate() -> None:
    ring: list[Any] = []
    ring.append(ring)
    ring.append({"back": ring, "lock": threading.RLock()})

    report = inspect_serializability(ring, name="ring")

    assert report.paths == ("ring[1]['lock']",)


def test_many_culprits_in_a_wide_container_are_all_found() -> None:
    rows: list[object] = [
        {"id": i, "lock": threading.Lock()} if i % 10 == 0 else i for i in range(100)
    ]

    report = inspect_serializability(rows, name="rows")

    assert report.paths == tuple(f"rows[{i}]['lock']" for i in range(0, 100, 10))


def test_object_whose_own_reduce_fails_is_the_culprit() -> None:
    namespace = script(
        """
        class Refuses:
            def __init__(self):
                self.fine = [1, 2]
            def __reduce__(self):
                raise TypeError("not today")
        obj = Refuses()
        """
    )

    report = inspect_serializability({"x": namespace["obj"]}, name="d")

    assert report.paths == ("d['x']",)
    assert report.failures[0].error == "TypeError: not today"
    assert report.failures[0].type == "__main__.Refuses"


def test_known_offender_is_reported_whole_not_its_internals() -> None:
    condition = threading.Condition()

    report = inspect_serializability({"cond": condition}, name="state")

    assert report.paths == ("state['cond']",)
    assert report.failures[0].type == "threading.Condition"


def test_partial_and_bound_method_paths() -> None:
    namespace = script(
        """
        import threading
        class Service:
            def __init__(self):
                self.lock = threading.Lock()
            def run(self):
                return 1
        service = Service()
        """
    )
    lock = threading.Lock()

    assert inspect_serializability(functools.partial(print, 1, lock)).paths == ("partial.args[1]",)
    assert inspect_serializability(namespace["service"].run).paths == ("run.__self__.lock",)


def test_builtin_method_blames_its_object() -> None:
    lock = threading.Lock()

    report = inspect_serializability([lock.acquire], name="hooks")

    assert report.paths == ("hooks[0].__self__",)


def test_dynamic_module_is_walked_by_value() -> None:
    module = types.ModuleType("not_importable_anywhere")
    module.pool_lock = threading.Lock()  # type: ignore[attr-defined]
    module.size = 3  # type: ignore[attr-defined]

    report = inspect_serializability(module)

    assert report.paths == ("not_importable_anywhere.pool_lock",)


def test_non_identifier_keys_and_attributes_get_exact_paths() -> None:
    holder = types.SimpleNamespace()
    setattr(holder, "my-lock", threading.Lock())
    key = object()
    data = {key: threading.Lock(), ("a", 1): threading.Lock(), float("inf"): threading.Lock()}

    assert inspect_serializability(holder, name="h").paths == ("vars(h)['my-lock']",)
    assert inspect_serializability(data, name="d").paths == (
        "d[list(d)[0]]",
        "d[('a', 1)]",
        "d[list(d)[2]]",
    )


def test_default_root_names() -> None:
    namespace = script(
        """
        class BankAccount:
            pass
        """
    )
    assert inspect_serializability(namespace["BankAccount"]()).root == "bank_account"
    assert inspect_serializability(lambda: 1).root == "lambda"
    assert inspect_serializability(print, name="custom").root == "custom"


def test_prober_is_reusable_after_a_failure() -> None:
    probe = Prober(load_cloudpickle())
    shared = [1, 2]
    bad = [shared, threading.Lock()]

    assert probe(bad) is not None
    assert probe(shared) is None
    assert probe(bad) is not None  # a stale memo would make this "succeed"


def test_check_at_decoration_raises_with_paths() -> None:
    task = script(LOCKED_TASK)["task"]

    with pytest.raises(rayobs.SerializationError) as raised:
        check_at_decoration(task)

    assert "task.__globals__['LOCK']" in str(raised.value)
    assert isinstance(raised.value, rayobs.RayobsError)
    assert isinstance(raised.value.report, rayobs.SerializabilityReport)
    assert raised.value.report.paths == ("task.__globals__['LOCK']",)
    copy = pickle.loads(pickle.dumps(raised.value))
    assert str(copy) == str(raised.value)
    assert copy.report == raised.value.report


def test_check_at_decoration_returns_report_when_fine() -> None:
    report = check_at_decoration(lambda x: x + 1, "add")
    assert report.serializable and report.root == "add"


def test_assert_serializable_fails_with_the_rendered_report() -> None:
    task = script(LOCKED_TASK)["task"]

    with pytest.raises(AssertionError) as raised:
        assert_serializable(task)

    message = str(raised.value)
    assert message.startswith("task is not serializable: 1 object cannot be pickled.")
    assert "[1] task.__globals__['LOCK']" in message
    assert_serializable(lambda x: x)  # passes silently


def test_report_pickles() -> None:
    report = inspect_serializability([threading.Lock()], name="xs")
    assert pickle.loads(pickle.dumps(report)) == report


def test_importing_rayobs_does_not_import_ray_or_cloudpickle() -> None:
    code = (
        "import sys, rayobs, rayobs.testing\n"
        "assert 'ray' not in sys.modules and 'cloudpickle' not in sys.modules\n"
        "assert not any(m.startswith('ray.') for m in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_falls_back_to_standalone_cloudpickle(monkeypatch: pytest.MonkeyPatch) -> None:
    real = load_cloudpickle()
    standalone = types.ModuleType("cloudpickle")
    standalone.CloudPickler = real.CloudPickler  # type: ignore[attr-defined]
    standalone.DEFAULT_PROTOCOL = real.DEFAULT_PROTOCOL  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ray.cloudpickle", None)
    monkeypatch.setitem(sys.modules, "cloudpickle", standalone)
    load_cloudpickle.cache_clear()
    try:
        assert load_cloudpickle() is standalone
        monkeypatch.setitem(sys.modules, "cloudpickle", None)
        load_cloudpickle.cache_clear()
        with pytest.raises(ImportError, match="pip install"):
            load_cloudpickle()
    finally:
        load_cloudpickle.cache_clear()


def test_public_names() -> None:
    for name in (
        "inspect_serializability",
        "SerializabilityReport",
        "Failure",
        "SerializationError",
    ):
        assert name in rayobs.__all__
        assert getattr(rayobs, name) is not None
    assert "assert_serializable" in rayobs.testing.__all__
    assert _api.DEFAULT_MAX_DEPTH > 0 and _api.DEFAULT_MAX_NODES > 0


def test_remembering_prober_substitutes_only_what_pickled() -> None:
    namespace = script(
        """
        class Row:
            def __init__(self, i):
                self.i = i
                self.fn = len
        """
    )
    rows = [namespace["Row"](i) for i in range(3)]
    probe = RememberingProber(load_cloudpickle())

    assert probe(rows[0]) is None
    assert id(namespace["Row"]) in probe.known_ok  # the class pickled once...
    for _ in range(3):  # ...and stands in as a placeholder from then on, repeatedly
        assert probe(rows[1]) is None
    rows[2].lock = threading.Lock()
    assert probe(rows[2]) is not None
    assert id(rows[2]) not in probe.known_ok


def test_wide_graph_of_by_value_instances_finds_every_culprit() -> None:
    namespace = script(
        """
        import threading
        class Item:
            def __init__(self, i):
                self.i = i
        items = [Item(i) for i in range(300)]
        for item in items[::50]:
            item.lock = threading.Lock()
        def total():
            return sum(item.i for item in items)
        """
    )

    report = inspect_serializability(namespace["total"])

    assert report.paths == tuple(f"total.__globals__['items'][{i}].lock" for i in range(0, 300, 50))


@pytest.mark.parametrize(
    "module_name",
    [
        "rayobs.inspect._api",
        "rayobs.inspect._children",
        "rayobs.inspect._hints",
        "rayobs.inspect._render",
        "rayobs.inspect._report",
    ],
)
def test_docstring_examples_hold(module_name: str) -> None:
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_the_default_budget_reaches_a_culprit_100_levels_deep() -> None:
    namespace = script(
        """
        import threading
        class Node:
            def __init__(self, child=None):
                self.child = child
                self.payload = {"name": "n", "values": list(range(20))}
        leaf = Node()
        leaf.lock = threading.Lock()
        root = leaf
        for _ in range(99):
            root = Node(root)
        """
    )

    report = inspect_serializability(namespace["root"], name="root")

    assert not report.truncated
    assert report.paths == ("root" + ".child" * 99 + ".lock",)


def test_runs_of_siblings_find_every_bad_one_in_order() -> None:
    items: list[object] = [{"ok": i} for i in range(1000)]
    for position in (0, 17, 500, 999):
        items[position] = {"lock": threading.Lock()}

    report = inspect_serializability(items, name="items")

    assert report.paths == tuple(f"items[{p}]['lock']" for p in (0, 17, 500, 999))


class _CountingProber(RememberingProber):
    """Counts the objects every probe entered (pickled through the override)."""

    entered_total = 0

    def _remember(self, good: int) -> None:
        self.entered_total += len(self._entered)
        super()._remember(good)


def test_a_deep_culprit_costs_about_one_pass_over_its_path() -> None:
    # each level used to pickle the rest of the chain again: 200 levels, ~20,000 objects
    from rayobs.inspect._walk import Walk

    namespace = script(
        """
        import threading
        class Node:
            def __init__(self, child=None):
                self.child = child
                self.payload = {"name": "n"}
        leaf = Node()
        leaf.lock = threading.Lock()
        root = leaf
        for _ in range(199):
            root = Node(root)
        """
    )
    root = namespace["root"]
    prober = _CountingProber(load_cloudpickle())
    walk = Walk(probe=prober, max_depth=1000, max_nodes=100_000)

    walk.run(root, "root", Prober(load_cloudpickle())(root) or AssertionError("pickles"))

    assert [f.path for f in walk.failures] == ["root" + ".child" * 199 + ".lock"]
    assert prober.entered_total < 3 * 200, prober.entered_total

"""rayobs.inspect._render: the text tree and the JSON shape."""

from __future__ import annotations

import json

import pytest

from rayobs.inspect._render import render_json, render_text, report_to_dict, split_path
from rayobs.inspect._report import Failure, SerializabilityReport

POOL = Failure(
    "special_business.__globals__['pool']",
    "multiprocessing.pool.Pool",
    "NotImplementedError: pool objects cannot be pickled",
    "A process or thread pool owns running workers and cannot be shipped.",
)
LOCK = Failure(
    "special_business.__globals__['cfg']['db'][0]",
    "_thread.lock",
    "TypeError: cannot pickle '_thread.lock' object",
    "Create it where it is used.",
)
REPORT = SerializabilityReport(serializable=False, root="special_business", failures=(POOL, LOCK))


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("task", ["task"]),
        ("task.__globals__['a.b[c]']", ["task", ".__globals__", "['a.b[c]']"]),
        ("h.__closure__[conn].data[0]", ["h", ".__closure__", "[conn]", ".data", "[0]"]),
        ("w.__getstate__()['k']", ["w", ".__getstate__()", "['k']"]),
        ("list(d.keys)[0]", ["list(d.keys)", "[0]"]),
        ('d["it\'s"]', ["d", '["it\'s"]']),
        ("o.__reduce_ex__(5)[1][0]", ["o", ".__reduce_ex__(5)", "[1]", "[0]"]),
    ],
)
def test_split_path(path: str, steps: list[str]) -> None:
    assert split_path(path) == steps
    assert "".join(steps) == path


def test_text_is_a_tree_then_one_block_per_failure() -> None:
    text = render_text(REPORT)

    assert text == (
        "special_business is not serializable: 2 objects cannot be pickled.\n"
        "\n"
        "special_business\n"
        "`-- .__globals__\n"
        "    |-- ['pool']  [1] multiprocessing.pool.Pool\n"
        "    `-- ['cfg']['db'][0]  [2] _thread.lock\n"
        "\n"
        "[1] special_business.__globals__['pool']\n"
        "    type:  multiprocessing.pool.Pool\n"
        "    error: NotImplementedError: pool objects cannot be pickled\n"
        "    hint:  A process or thread pool owns running workers and cannot be shipped.\n"
        "\n"
        "[2] special_business.__globals__['cfg']['db'][0]\n"
        "    type:  _thread.lock\n"
        "    error: TypeError: cannot pickle '_thread.lock' object\n"
        "    hint:  Create it where it is used."
    )


def test_text_has_no_colour_unless_asked() -> None:
    assert "\x1b[" not in render_text(REPORT)
    assert "\x1b[31m" in render_text(REPORT, color=True)


def test_text_for_serializable_and_truncated_reports() -> None:
    assert render_text(SerializabilityReport(True, "task")) == "task is serializable."
    truncated = SerializabilityReport(
        False, "x", (LOCK,), truncated=True, truncated_reason="max_depth=1 reached at x.a"
    )
    assert "Search truncated: max_depth=1 reached at x.a." in render_text(truncated)


def test_root_itself_failing_is_marked() -> None:
    report = SerializabilityReport(False, "lock", (Failure("lock", "_thread.lock", "e", "h"),))
    assert "\nlock  [1] _thread.lock\n" in render_text(report)


def test_json_has_exactly_the_documented_shape() -> None:
    document = json.loads(render_json(REPORT))

    assert list(document) == ["serializable", "root", "failures", "truncated"]
    assert document["serializable"] is False
    assert document["root"] == "special_business"
    assert document["truncated"] is False
    assert [list(failure) for failure in document["failures"]] == [
        ["path", "type", "error", "hint"]
    ] * 2
    assert document["failures"][0] == {
        "path": POOL.path,
        "type": POOL.type,
        "error": POOL.error,
        "hint": POOL.hint,
    }
    assert report_to_dict(SerializabilityReport(True, "t"))["failures"] == []

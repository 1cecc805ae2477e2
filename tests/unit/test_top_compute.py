"""rayobs top's core: exposition → per-function frame → table and JSON; endpoints never block."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from rayobs.top import SortBy, compute, parse_exposition, select, snapshot_to_dict, snapshot_to_text
from rayobs.top._fetch import endpoint_url, fetch_all
from rayobs.top._model import FunctionKey, Sample, Scrape

RAY = 'Component="core_worker",NodeAddress="127.0.0.1",SessionName="s",Version="2.60.0"'


def _calls(worker: str, outcome: str, value: float, name: str = "f") -> str:
    return (
        f'ray_rayobs_calls_total{{{RAY},WorkerId="{worker}",app="shop",component="",kind="task",'
        f'name="{name}",outcome="{outcome}",team=""}} {value}'
    )


def _bucket(le: str, value: float) -> str:
    return (
        f'ray_rayobs_call_duration_seconds_bucket{{{RAY},WorkerId="a",app="shop",component="",'
        f'kind="task",le="{le}",name="f",outcome="ok",team=""}} {value}'
    )


BEFORE = "\n".join(
    [
        "# HELP ray_rayobs_calls_total Finished calls",
        "# TYPE ray_rayobs_calls_total counter",
        _calls("a", "ok", 10),
        _calls("a", "error", 2),
        _calls("b", "ok", 50),
        f'ray_rayobs_call_errors_total{{{RAY},WorkerId="a",app="shop",component="",kind="task",'
        'name="f",exception="ValueError",team=""} 2',
        _bucket("0.01", 5),
        _bucket("0.1", 10),
        _bucket("+Inf", 12),
        'ray_node_manager_unexpected_worker_failure_total{Type="Worker"} 1',
        "ray_unrelated_metric 42",
    ]
)
AFTER = "\n".join(
    [
        _calls("a", "ok", 14),  # +4
        _calls("a", "error", 3),  # +1
        _calls("b", "ok", 5),  # worker b restarted: 5 new
        _calls("c", "ok", 2),  # a new worker: counts from zero
        _calls("z", "ok", 1, name="g"),  # g's first scrape: 1 new
        f'ray_rayobs_call_errors_total{{{RAY},WorkerId="a",app="shop",component="",kind="task",'
        'name="f",exception="ValueError",team=""} 3',
        _bucket("0.01", 7),  # +2
        _bucket("0.1", 14),  # +4
        _bucket("+Inf", 17),  # +5
        f'ray_rayobs_calls_in_flight{{{RAY},WorkerId="a",app="shop",component="",kind="task",'
        'name="f",team=""} 2',
        f'ray_rayobs_calls_in_flight{{{RAY},WorkerId="b",app="shop",component="",kind="task",'
        'name="f",team=""} 1',
        'ray_tasks{State="RUNNING",IsRetry="0"} 3',
        'ray_tasks{State="FINISHED",IsRetry="0"} 10',
        'ray_object_store_memory{Location="MMAP_SHM_POOL"} 100',
        'ray_resources{Name="object_store_memory",State="AVAILABLE"} 900',
        'ray_resources{Name="object_store_memory",State="USED"} 100',
        'ray_resources{Name="CPU",State="AVAILABLE"} 2',
        'ray_node_manager_unexpected_worker_failure_total{Type="Worker"} 2',
    ]
)
URL = "http://127.0.0.1:1/metrics"
DOWN = "http://127.0.0.1:2/metrics"


def _frame() -> object:
    previous = [Scrape(URL, 100.0, parse_exposition(BEFORE))]
    current = [
        Scrape(URL, 102.0, parse_exposition(AFTER)),
        Scrape(DOWN, 102.0, error="connection refused"),
    ]
    return compute(previous, current, deaths_before=3)


def test_parse_keeps_only_the_series_the_view_reads() -> None:
    names = {sample.name for sample in parse_exposition(BEFORE)}
    assert "ray_unrelated_metric" not in names
    assert "ray_rayobs_calls_total" in names
    assert "ray_rayobs_call_duration_seconds_bucket" in names


def test_parse_leaves_out_malformed_lines_and_reads_escapes() -> None:
    text = 'ray_tasks{State="RUNNING" 3\nray_tasks{State="a\\"b",X="1"} 2\n'
    assert parse_exposition(text) == (Sample("ray_tasks", (("State", 'a"b'), ("X", "1")), 2.0),)


def test_rates_sum_workers_and_count_resets_and_new_series() -> None:
    frame = _frame()
    f = next(r for r in frame.rows if r.key.name == "f")  # type: ignore[attr-defined]
    assert f.key == FunctionKey("task", "f", "shop", "")
    assert f.calls == 12  # 4 + 1 + 5 (reset) + 2 (new worker)
    assert f.calls_per_s == 6  # over 2 s
    assert f.errors == 1
    assert f.error_ratio == pytest.approx(1 / 12)
    assert f.exceptions == (("ValueError", 1.0),)
    assert f.in_flight == 3
    # bucket rates 1, 2, 2.5 per s: p50 rank 1.25 in (0.01, 0.1] → 0.01 + 0.09 * 0.25
    assert f.p50 == pytest.approx(0.0325)
    assert f.p95 == f.p99 == 0.1  # ranks in +Inf: the highest finite bound
    g = next(r for r in frame.rows if r.key.name == "g")  # type: ignore[attr-defined]
    assert (g.calls, g.p99, g.error_ratio) == (1, None, 0.0)


def test_a_series_written_in_another_order_is_the_same_series() -> None:
    before = _calls("a", "ok", 10)
    labels = before[before.index("{") + 1 : before.index("}")].split(",")
    reordered = f"ray_rayobs_calls_total{{{','.join(reversed(labels))}}} 14"
    frame = compute(
        [Scrape(URL, 100.0, parse_exposition(before))],
        [Scrape(URL, 102.0, parse_exposition(reordered))],
    )
    (f,) = frame.rows
    assert f.calls == 4  # not 14: the same labels, whatever their order


def test_labels_read_from_text_equal_labels_given() -> None:
    (sample,) = parse_exposition('ray_tasks{b="2",a="1"} 5')
    assert sample == Sample("ray_tasks", (("a", "1"), ("b", "2")), 5.0)
    assert sample.label("b") == "2"
    assert sample.series == 'ray_tasks{b="2",a="1"}'


def test_cluster_line_and_endpoints() -> None:
    frame = _frame()
    cluster = frame.cluster  # type: ignore[attr-defined]
    assert cluster.nodes == 1
    assert dict(cluster.tasks_by_state) == {"RUNNING": 3, "FINISHED": 10}
    assert (cluster.store_used_bytes, cluster.store_capacity_bytes) == (100, 1000)
    assert cluster.worker_deaths == 4  # 3 earlier + 1 in this window
    assert [(e.source, e.ok, e.error) for e in frame.endpoints] == [  # type: ignore[attr-defined]
        (URL, True, None),
        (DOWN, False, "connection refused"),
    ]


def test_first_round_has_rows_and_in_flight_but_no_rates() -> None:
    frame = compute([], [Scrape(URL, 1.0, parse_exposition(AFTER))])
    f = next(r for r in frame.rows if r.key.name == "f")
    assert (f.calls, f.in_flight, f.p99, frame.window_s) == (0, 3, None, 0.0)


def test_select_sorts_and_filters() -> None:
    frame = _frame()
    assert [r.key.name for r in select(frame, SortBy.CALLS).rows] == ["f", "g"]  # type: ignore[arg-type]
    assert [r.key.name for r in select(frame, SortBy.P99).rows] == ["f", "g"]  # type: ignore[arg-type]
    assert [r.key.name for r in select(frame, SortBy.CALLS, "G").rows] == ["g"]  # type: ignore[arg-type]
    assert [r.key.name for r in select(frame, SortBy.CALLS, "shop").rows] == ["f", "g"]  # type: ignore[arg-type]
    assert select(frame, SortBy.ERRORS, "nothing").rows == ()  # type: ignore[arg-type]


@pytest.mark.parametrize("member", list(SortBy))
def test_every_sort_key_orders_rows(member: SortBy) -> None:
    rows = select(_frame(), member).rows  # type: ignore[arg-type]
    assert {r.key.name for r in rows} == {"f", "g"}


def test_renderers() -> None:
    frame = _frame()
    text = snapshot_to_text(frame)  # type: ignore[arg-type]
    assert "nodes 1 | tasks FINISHED=10 RUNNING=3" in text
    assert "worker deaths 4" in text
    assert f"no answer: {DOWN}: connection refused" in text
    assert "ValueError 1" in text
    data = json.loads(json.dumps(snapshot_to_dict(frame)))  # type: ignore[arg-type]
    f = data["functions"][0]
    assert (f["name"], f["calls"], f["errors"], f["p99_s"]) == ("f", 12, 1, 0.1)
    assert f["exceptions"] == [{"type": "ValueError", "count": 1}]
    assert data["cluster"]["object_store_capacity_bytes"] == 1000


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("127.0.0.1:8080", "http://127.0.0.1:8080/metrics"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/metrics"),
        ("http://127.0.0.1:8080/custom", "http://127.0.0.1:8080/custom"),
    ],
)
def test_endpoint_url(text: str, url: str) -> None:
    assert endpoint_url(text) == url


@pytest.mark.parametrize("text", ["", "ftp://host/x", "http://", "127.0.0.1:notaport"])
def test_endpoint_url_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        endpoint_url(text)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_endpoints_that_do_not_answer_never_block(silent_port: int) -> None:
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    closed_port = refused.getsockname()[1]
    refused.close()  # nothing listens there now
    started = time.monotonic()
    scrapes = fetch_all(
        [f"http://127.0.0.1:{silent_port}/metrics", f"http://127.0.0.1:{closed_port}/metrics"],
        timeout=0.5,
    )
    assert time.monotonic() - started < 1.5  # concurrent: one timeout, not the sum
    assert [s.error for s in scrapes] == ["timed out", "connection refused"]

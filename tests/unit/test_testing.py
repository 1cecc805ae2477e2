"""rayobs.testing answers the questions a test asks, and says so when it cannot."""

from __future__ import annotations

import contextlib
import doctest
import importlib
import threading

import pytest

import rayobs
from rayobs.metrics import _catalog
from rayobs.testing import HistogramValue, MemoryBackend, capture_metrics


@pytest.fixture(autouse=True)
def _no_background_push(monkeypatch: pytest.MonkeyPatch) -> None:
    # the background flusher waits as long as it may: what a reader sees right
    # after a call, it pushed itself
    monkeypatch.setenv("RAYOBS_FLUSH_INTERVAL", "3600")
    monkeypatch.setenv("RAYOBS_FLUSH_DELAY", "1")


@pytest.mark.parametrize("module", ["rayobs.testing", "rayobs.backends._memory"])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0
    assert result.failed == 0


# ---- metrics by name ----


def test_a_typo_in_a_metric_name_raises_naming_the_closest() -> None:
    requests = rayobs.Counter("t_requests")
    with capture_metrics() as m:
        requests.inc()
    with pytest.raises(LookupError, match=r"no metric 't_reqests' .* did you mean 't_requests'"):
        m.value("t_reqests")
    for read in (m.total, m.series, m.histogram):
        with pytest.raises(LookupError, match="did you mean 't_requests'"):
            read("t_reqests")
    with pytest.raises(LookupError, match="did you mean 'rayobs_calls'"):
        m.value("rayobs_cals")


def test_an_exported_name_points_to_the_declared_one() -> None:
    m = MemoryBackend()
    with pytest.raises(LookupError, match=r"did you mean 'rayobs_calls'.*not the exported"):
        m.value("ray_rayobs_calls_total")


def test_a_name_close_to_nothing_lists_what_is_known() -> None:
    # the list is sorted and cut at ten names; a whole session's handles are known too
    rayobs.Gauge("aaaa_t_depth")
    with pytest.raises(LookupError, match=r"known metrics: aaaa_t_depth"):
        MemoryBackend().value("zzzzzz")


def test_declared_but_never_recorded_is_known_and_empty() -> None:
    rayobs.Counter("t_quiet", tag_keys=("k",))
    rayobs.Histogram("t_quiet_seconds", boundaries=(1.0,), unit="seconds")
    with capture_metrics() as m:
        pass
    assert m.value("t_quiet") is None
    assert m.value("t_quiet", k="x") is None
    assert m.total("t_quiet") == 0.0
    assert m.series("t_quiet") == {}
    assert m.histogram("t_quiet_seconds") is None
    # the catalog's metrics are known after a reset too
    assert m.value("rayobs_calls") is None


def test_a_tag_key_the_metric_lacks_raises_naming_its_keys() -> None:
    sent = rayobs.Counter("t_sent", tag_keys=("region", "status"))
    plain = rayobs.Counter("t_plain")
    with capture_metrics() as m:
        sent.inc(tags={"region": "eu", "status": "ok"})
        plain.inc()
    with pytest.raises(
        TypeError, match=r"no tag key regoin: its tag keys are \('region', 'status'\)"
    ):
        m.value("t_sent", regoin="eu")
    with pytest.raises(TypeError, match="no tag key k: it has no tags"):
        m.value("t_plain", k="x")


def test_tags_are_a_filter_and_matching_series_are_summed() -> None:
    sent = rayobs.Counter("t_sum", tag_keys=("region", "status"))
    with capture_metrics() as m:
        sent.inc(tags={"region": "eu", "status": "ok"})
        sent.inc(2, tags={"region": "us", "status": "ok"})
        sent.inc(4, tags={"region": "us", "status": "failed"})
    assert m.value("t_sum") == 7.0
    assert m.value("t_sum", status="ok") == 3.0
    assert m.value("t_sum", region="us") == 6.0
    assert m.value("t_sum", region="us", status="failed") == 4.0
    assert m.value("t_sum", region="eu", status="failed") is None  # a combination never seen
    assert m.value("t_sum", region="e") is None  # a typo in a value: None equals no number


def test_series_that_sum_to_zero_are_not_nothing() -> None:
    depth = rayobs.Gauge("t_zero_depth", tag_keys=("q",))
    with capture_metrics() as m:
        depth.set(0, tags={"q": "a"})
        depth.inc(tags={"q": "b"})
        depth.dec(tags={"q": "b"})
    assert m.value("t_zero_depth", q="a") == 0.0
    assert m.value("t_zero_depth") == 0.0
    assert m.value("t_zero_depth", q="c") is None


def test_asking_a_histogram_for_a_value_and_back_raises() -> None:
    c = rayobs.Counter("t_kind")
    h = rayobs.Histogram("t_kind_seconds", boundaries=(1.0,), unit="seconds")
    with capture_metrics() as m:
        c.inc()
        h.observe(0.5)
    with pytest.raises(TypeError, match="use histogram"):
        m.value("t_kind_seconds")
    with pytest.raises(TypeError, match="use histogram"):
        m.total("t_kind_seconds")
    with pytest.raises(TypeError, match="is a counter, not a histogram"):
        m.histogram("t_kind")


def test_histogram_series_carrying_the_tags_are_merged() -> None:
    wait = rayobs.Histogram(
        "t_wait_seconds", boundaries=(0.1, 1.0), tag_keys=("q", "w"), unit="seconds"
    )
    with capture_metrics() as m:
        wait.observe(0.0625, tags={"q": "a", "w": "1"})
        wait.observe(0.5, tags={"q": "a", "w": "2"})
        wait.observe(3.0, tags={"q": "b", "w": "1"})
    assert m.histogram("t_wait_seconds") == HistogramValue(3, 3.5625, (0.1, 1.0), (1, 1, 1))
    merged = m.histogram("t_wait_seconds", q="a")
    assert merged == HistogramValue(2, 0.5625, (0.1, 1.0), (1, 1, 0))
    assert (merged.at_most(0.1), merged.at_most(1.0), merged.at_most(float("inf"))) == (1, 2, 2)
    with pytest.raises(ValueError, match=r"not a bucket boundary.*\(0.1, 1.0\)"):
        merged.at_most(0.5)
    assert m.histogram("t_wait_seconds", q="c") is None


def test_setting_the_same_backend_again_keeps_what_it_recorded() -> None:
    c = rayobs.Counter("t_again")
    m = MemoryBackend()
    rayobs.configure(backend=m)
    c.inc()
    rayobs.configure(backend=m)
    c.inc()
    assert m.value("t_again") == 2.0


# ---- one instrumented function or method ----


class PaymentError(Exception):
    pass


def test_the_reported_question_is_answered_as_asked() -> None:
    @rayobs.instrument
    def gen(n: int) -> list[int]:
        return list(range(n))

    with capture_metrics() as m:
        gen(3)
        # no flush, no app/component/team spelled out
        assert m.value("rayobs_calls", kind="task", name="gen", outcome="ok") == 1.0
        assert m.calls(gen) == {"ok": 1}


def test_calls_errors_duration_and_in_flight_of_one_function() -> None:
    @rayobs.instrument
    def pay(amount: int) -> int:
        if amount < 0:
            raise PaymentError(amount)
        if amount == 0:
            raise ZeroDivisionError
        return amount

    with capture_metrics() as m:
        for amount in (1, 2, 3, -1, 0, 0):
            with contextlib.suppress(PaymentError, ZeroDivisionError):
                pay(amount)
        assert m.calls(pay) == {"error": 3, "ok": 3}
        assert m.errors(pay) == {"ZeroDivisionError": 2, f"{__name__}.PaymentError": 1}
        duration = m.duration(pay)
        assert duration.count == 6 and duration.at_most(float("inf")) == 6
        assert duration.boundaries == _catalog.CALL_DURATION.boundaries
        assert m.in_flight(pay) == 0
        ok = m.histogram("rayobs_call_duration_seconds", name="pay", outcome="ok")
        assert ok is not None and ok.count == 3


def test_in_flight_counts_a_call_running_in_another_thread() -> None:
    started, release = threading.Event(), threading.Event()

    @rayobs.instrument
    def block() -> None:
        started.set()
        release.wait(10)

    with capture_metrics() as m:
        t = threading.Thread(target=block)
        t.start()
        assert started.wait(10)
        running = m.in_flight(block)
        release.set()
        t.join(10)
        assert (running, m.in_flight(block)) == (1, 0)


def test_a_function_never_called_has_nothing_and_says_zero() -> None:
    @rayobs.instrument
    def idle() -> None:
        pass

    with capture_metrics() as m:
        pass
    assert m.calls(idle) == {} and m.errors(idle) == {}
    assert m.duration(idle).count == 0 and m.in_flight(idle) == 0


def test_static_tags_keep_two_same_named_functions_apart_and_a_name_sums_them() -> None:
    a = rayobs.instrument(lambda: None, name="same", tags={"team": "a"})
    b = rayobs.instrument(lambda: None, name="same", tags={"team": "b"})
    untagged = rayobs.instrument(lambda: None, name="same")
    with capture_metrics() as m:
        a()
        b()
        b()
        assert (m.calls(a), m.calls(b), m.calls(untagged)) == ({"ok": 1}, {"ok": 2}, {})
        assert m.calls("same") == {"ok": 3}
        assert m.value("rayobs_calls", name="same", team="b") == 2.0


def test_methods_and_names_of_an_instrumented_class() -> None:
    @rayobs.instrument
    class Bank:
        def __init__(self) -> None:
            self.balance = 0

        def deposit(self, n: int) -> None:
            self.balance += n

    with capture_metrics() as m:
        bank = Bank()
        bank.deposit(1)
        bank.deposit(2)
        assert m.calls(Bank.deposit) == {"ok": 2}
        assert m.calls(bank.deposit) == {"ok": 2}  # a bound method
        assert m.calls("Bank.__init__") == {"ok": 1}
        with pytest.raises(LookupError, match=r"'Bank.depost'.*did you mean 'Bank.deposit'"):
            m.calls("Bank.depost")
        with pytest.raises(TypeError, match="Bank is a class: ask about one of its methods"):
            m.calls(Bank)


def test_what_is_not_instrumented_or_not_recorded_raises() -> None:
    def plain() -> None:
        pass

    only_calls = rayobs.instrument(plain, metrics=("calls",), name="only_calls")
    with capture_metrics() as m:
        only_calls()
        assert m.calls(only_calls) == {"ok": 1}
        with pytest.raises(ValueError, match="'only_calls' is instrumented without 'errors'"):
            m.errors(only_calls)
        with pytest.raises(TypeError, match="is not instrumented"):
            m.calls(plain)
        with pytest.raises(LookupError, match="pass the function itself"):
            m.calls("never_ran")


def test_a_custom_duration_histogram_is_read() -> None:
    steps = rayobs.Histogram(
        "t_step_seconds", boundaries=(10.0,), tag_keys=("name", "outcome"), unit="seconds"
    )
    step = rayobs.instrument(lambda: None, name="step", duration_histogram=steps)
    with capture_metrics() as m:
        step()
        mine = m.duration(step)
        assert (mine.count, mine.boundaries, mine.buckets) == (1, (10.0,), (1, 0))
        assert m.histogram("rayobs_call_duration_seconds", name="step") is None


def test_a_ray_remote_function_made_from_an_instrumented_one() -> None:
    ray = pytest.importorskip("ray")

    @ray.remote
    @rayobs.instrument
    def square(x: int) -> int:
        return x * x

    with capture_metrics() as m:
        assert square._function(3) == 9  # run here, without a cluster
        assert m.calls(square) == {"ok": 1}


def test_a_backend_no_longer_in_use_keeps_its_counts_and_later_calls_go_on() -> None:
    @rayobs.instrument
    def work() -> None:
        pass

    with capture_metrics() as m:
        work()
    with capture_metrics() as later:
        work()
        assert later.calls(work) == {"ok": 1}
    assert m.calls(work) == {"ok": 1}


def test_reading_a_backend_no_longer_in_use_leaves_the_current_one_alone() -> None:
    class Broken:
        name = "broken"

        def create(self, spec: object) -> object:
            raise ConnectionError("metrics agent gone")

    @rayobs.instrument
    def work() -> None:
        pass

    with capture_metrics() as m:
        work()
    rayobs.configure(backend=Broken(), strict=True)
    work()  # pending for the broken backend: a flush now would raise
    assert m.calls(work) == {"ok": 1}

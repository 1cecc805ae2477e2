"""The inspector's corpus: scripts a Ray user writes, with the culprits they hide.

Each case is the source of a small script. It runs as ``__main__`` (in a fresh
namespace, as ``python script.py`` would), so cloudpickle pickles its functions
and classes by value, exactly as Ray does for a driver script. Every case names
the culprits: the exact path rayobs must report, and an independent expression
for the culprit object, used to check that the path evaluates to it and to
score Ray's own inspector on the same corpus.
"""

from __future__ import annotations

import concurrent.futures
import io
import logging
import multiprocessing.pool
import re
import socket
import sqlite3
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rayobs import inspect_serializability


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    target: str
    # expected path -> expression evaluating to the culprit in the script's namespace
    culprits: dict[str, str] = field(default_factory=dict)


CASES = [
    Case(
        "example_c1_multiprocessing_pool",
        """
        from multiprocessing import get_context
        # spawn: this test process may already run Ray's threads, and forking a
        # threaded process can deadlock the pool's workers
        pool = get_context("spawn").Pool(2)
        def special_business(x):
            def inc(y):
                return y + x
            return pool.map(inc, range(0, x))
        """,
        "special_business",
        {"special_business.__globals__['pool']": "pool"},
    ),
    Case(
        "lock_in_dict_in_global",
        """
        import threading
        CONFIG = {"db": {"url": "sqlite://", "lock": threading.Lock()}, "retries": 3}
        def fetch(key):
            with CONFIG["db"]["lock"]:
                return key
        """,
        "fetch",
        {"fetch.__globals__['CONFIG']['db']['lock']": "CONFIG['db']['lock']"},
    ),
    Case(
        "socket_in_attribute",
        """
        import socket
        class Client:
            def __init__(self, host):
                self.host = host
                self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client = Client("db.internal")
        """,
        "client",
        {"client.sock": "client.sock"},
    ),
    Case(
        "generator_in_list",
        """
        def batches():
            yield from range(3)
        WORK = [[1, 2], batches(), "done"]
        def process():
            return [len(w) for w in WORK]
        """,
        "process",
        {"process.__globals__['WORK'][1]": "WORK[1]"},
    ),
    Case(
        "file_in_partial_args",
        """
        import functools, os
        LOG = open(os.path.join(TMP, "app.log"), "a")
        def log_line(stream, line):
            stream.write(line)
        write_log = functools.partial(log_line, LOG)
        """,
        "write_log",
        {"write_log.args[0]": "LOG"},
    ),
    Case(
        "lambda_over_db_connection",
        """
        import sqlite3
        conn = sqlite3.connect(":memory:")
        count_rows = lambda table: conn.execute(f"select count(*) from {table}").fetchone()
        """,
        "count_rows",
        {"count_rows.__globals__['conn']": "conn"},
    ),
    Case(
        "closure_over_db_connection",
        """
        import sqlite3
        def make_handler(path):
            conn = sqlite3.connect(path)
            def handler(query):
                return conn.execute(query).fetchall()
            return handler
        handler = make_handler(":memory:")
        """,
        "handler",
        {"handler.__closure__[conn]": "handler.__closure__[0].cell_contents"},
    ),
    Case(
        "closure_over_object_holding_connection",
        """
        import sqlite3
        class Repository:
            def __init__(self):
                self.table = "orders"
                self.conn = sqlite3.connect(":memory:")
        def make_handler():
            repo = Repository()
            def handler(order_id):
                return repo.conn.execute("select ?", (order_id,)).fetchone()
            return handler
        handler = make_handler()
        """,
        "handler",
        {"handler.__closure__[repo].conn": "handler.__closure__[0].cell_contents.conn"},
    ),
    Case(
        "dataclass_field",
        """
        import dataclasses, threading
        @dataclasses.dataclass
        class Job:
            name: str
            lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
        job = Job("nightly")
        """,
        "job",
        {"job.lock": "job.lock"},
    ),
    Case(
        "getstate_returns_lock",
        """
        import threading
        class Guarded:
            def __init__(self):
                self.value = 0
                self._lock = threading.Lock()
            def __getstate__(self):
                return self._lock
        guarded = Guarded()
        """,
        "guarded",
        {"guarded.__getstate__()": "guarded._lock"},
    ),
    Case(
        "getstate_forgets_lock",
        """
        import threading
        class Cache:
            def __init__(self):
                self.data = {}
                self._lock = threading.RLock()
            def __getstate__(self):
                state = self.__dict__.copy()
                state.pop("data")
                return state
        cache = Cache()
        """,
        "cache",
        {"cache.__getstate__()['_lock']": "cache._lock"},
    ),
    Case(
        "reduce_with_socket",
        """
        import socket
        class Connection:
            def __init__(self, sock):
                self.sock = sock
            def __reduce__(self):
                return (Connection, (self.sock,))
        connection = Connection(socket.socket())
        """,
        "connection",
        {"connection.__reduce__()[1][0]": "connection.sock"},
    ),
    Case(
        "slots",
        """
        import threading
        class Point:
            __slots__ = ("x", "y", "guard")
            def __init__(self):
                self.x, self.y = 1, 2
                self.guard = threading.Semaphore(2)
        point = Point()
        """,
        "point",
        {"point.guard": "point.guard"},
    ),
    Case(
        "slots_and_dict_inherited",
        """
        import socket, threading
        class Base:
            __slots__ = ("sock",)
        class Child(Base):
            def __init__(self):
                self.sock = socket.socket()
                self.events = [threading.Event()]
        child = Child()
        """,
        "child",
        {"child.sock": "child.sock", "child.events[0]": "child.events[0]"},
    ),
    Case(
        "class_attribute",
        """
        import threading
        class Bank:
            _lock = threading.Lock()
            def deposit(self, amount):
                with Bank._lock:
                    return amount
        """,
        "Bank",
        {"Bank._lock": "Bank._lock"},
    ),
    Case(
        "class_attribute_through_instance",
        """
        import threading
        class Bank:
            _lock = threading.Lock()
            def __init__(self):
                self.balance = 0
        account = Bank()
        """,
        "account",
        {"account.__class__._lock": "Bank._lock"},
    ),
    Case(
        "abc_instance_with_nested_lock",
        """
        import abc, threading
        class Store(abc.ABC):
            @abc.abstractmethod
            def get(self, key): ...
        class Value:
            def __init__(self):
                self._lock = threading.Lock()
                self.n = 0
        class MemoryStore(Store):
            def __init__(self):
                self._value = Value()
            def get(self, key):
                return self._value.n
        store = MemoryStore()
        """,
        "store",
        {"store._value._lock": "store._value._lock"},
    ),
    Case(
        "bound_method_with_executor",
        """
        from concurrent.futures import ThreadPoolExecutor
        class Crawler:
            def __init__(self):
                self.seen = set()
                self.executor = ThreadPoolExecutor(max_workers=1)
            def crawl(self, url):
                return self.executor.submit(len, url)
        crawler = Crawler()
        crawl = crawler.crawl
        """,
        "crawl",
        {"crawl.__self__.executor": "crawler.executor"},
    ),
    Case(
        "deep_chain",
        """
        import threading
        class Node:
            def __init__(self, child=None):
                self.payload = "x"
                self.child = child
        leaf = Node()
        leaf.lock = threading.Lock()
        chain = leaf
        for _ in range(7):
            chain = Node(chain)
        def walk():
            return chain
        """,
        "walk",
        {"walk.__globals__['chain']" + ".child" * 7 + ".lock": "leaf.lock"},
    ),
    Case(
        "cycle_between_objects",
        """
        import threading
        class Peer:
            def __init__(self, name):
                self.name = name
                self.other = None
        a, b = Peer("a"), Peer("b")
        a.other, b.other = b, a
        b.lock = threading.Lock()
        """,
        "a",
        {"a.other.lock": "b.lock"},
    ),
    Case(
        "self_referencing_list",
        """
        import threading
        items = [1, 2]
        items.append(items)
        items.append(threading.Condition())
        """,
        "items",
        {"items[3]": "items[3]"},
    ),
    Case(
        "several_culprits_global_closure_default",
        """
        import threading, socket
        LOCK = threading.Lock()
        def make_task():
            sock = socket.socket()
            def task(x, batches=(i for i in range(3))):
                with LOCK:
                    sock.send(bytes(x))
                return list(batches)
            return task
        task = make_task()
        """,
        "task",
        {
            "task.__globals__['LOCK']": "LOCK",
            "task.__closure__[sock]": "task.__closure__[0].cell_contents",
            "task.__defaults__[0]": "task.__defaults__[0]",
        },
    ),
    Case(
        "keyword_only_default_file",
        """
        import os
        def export(rows, *, out=open(os.path.join(TMP, "export.csv"), "w")):
            out.write(str(rows))
        """,
        "export",
        {"export.__kwdefaults__['out']": "export.__kwdefaults__['out']"},
    ),
    Case(
        "positional_default_lock",
        """
        import threading
        def task(x, cache=None, lock=threading.RLock()):
            with lock:
                return x
        """,
        "task",
        {"task.__defaults__[1]": "task.__defaults__[1]"},
    ),
    Case(
        "locks_as_dict_keys",
        """
        import threading
        LOCKS = {threading.Lock(): "orders", threading.Lock(): "users"}
        def guarded(name):
            return [lock for lock, table in LOCKS.items() if table == name]
        """,
        "guarded",
        {
            "list(guarded.__globals__['LOCKS'])[0]": "list(LOCKS)[0]",
            "list(guarded.__globals__['LOCKS'])[1]": "list(LOCKS)[1]",
        },
    ),
    Case(
        "socket_in_set",
        """
        import socket
        OPEN = {socket.socket()}
        def close_all():
            for sock in OPEN:
                sock.close()
        """,
        "close_all",
        {"list(close_all.__globals__['OPEN'])[0]": "list(OPEN)[0]"},
    ),
    Case(
        "global_used_only_by_nested_function",
        """
        import threading
        REGISTRY_LOCK = threading.Lock()
        def register(name):
            def inner():
                with REGISTRY_LOCK:
                    return name
            return inner()
        """,
        "register",
        {"register.__globals__['REGISTRY_LOCK']": "REGISTRY_LOCK"},
    ),
    Case(
        "logging_handler",
        """
        import logging, os
        handler = logging.FileHandler(os.path.join(TMP, "audit.log"), delay=True)
        logger = logging.getLogger("rayobs.corpus.audit")
        def audit(event):
            logger.info(event)
            handler.flush()
        """,
        "audit",
        {"audit.__globals__['handler']": "handler"},
    ),
    Case(
        "staticmethod_and_property_on_class",
        """
        import threading
        STATS_LOCK = threading.Lock()
        class Stats:
            @staticmethod
            def bump():
                with STATS_LOCK:
                    pass
            @property
            def busy(self):
                return STATS_LOCK.locked()
        """,
        "Stats",
        {"Stats.bump.__globals__['STATS_LOCK']": "STATS_LOCK"},
    ),
    Case(
        "partial_keyword_socket",
        """
        import functools, socket
        def send(payload, *, sock):
            sock.sendall(payload)
        send_to_peer = functools.partial(send, sock=socket.socket())
        """,
        "send_to_peer",
        {"send_to_peer.keywords['sock']": "send_to_peer.keywords['sock']"},
    ),
    Case(
        "defaultdict_factory_over_connection",
        """
        import collections, sqlite3
        conn = sqlite3.connect(":memory:")
        cursors = collections.defaultdict(lambda: conn.cursor())
        def lookup(key):
            return cursors[key]
        """,
        "lookup",
        {"lookup.__globals__['cursors'].default_factory.__globals__['conn']": "conn"},
    ),
    Case(
        "nested_containers_in_attribute",
        """
        import threading
        class Holder:
            def __init__(self):
                self.data = {"inner": [threading.Lock(), 1], "ok": (1, 2)}
        obj = Holder()
        """,
        "obj",
        {"obj.data['inner'][0]": "obj.data['inner'][0]"},
    ),
    Case(
        "same_lock_reached_twice",
        """
        import threading
        LOCK = threading.Lock()
        class Worker:
            def __init__(self):
                self.lock = LOCK
                self.locks = [LOCK]
        worker = Worker()
        """,
        "worker",
        {"worker.lock": "LOCK"},
    ),
    Case(
        "thread_in_attribute",
        """
        import threading
        class Heartbeat:
            def __init__(self):
                self.interval = 5
                self.thread = threading.Thread(target=print, daemon=True)
        beat = Heartbeat()
        """,
        "beat",
        {"beat.thread": "beat.thread"},
    ),
    Case(
        "namedtuple_field",
        """
        import collections, socket
        Endpoint = collections.namedtuple("Endpoint", "host port sock")
        endpoint = Endpoint("db.internal", 5432, socket.socket())
        """,
        "endpoint",
        {"endpoint.sock": "endpoint.sock"},
    ),
    Case(
        "queue_in_global",
        """
        import queue
        jobs = queue.Queue()
        def worker():
            return jobs.get()
        """,
        "worker",
        {"worker.__globals__['jobs']": "jobs"},
    ),
    # Controls: what pickles must be reported serializable.
    Case(
        "unreferenced_global_lock",
        """
        import threading
        UNUSED = threading.Lock()
        def add(x, y):
            return x + y
        """,
        "add",
    ),
    Case(
        "logger_pickles_by_name",
        """
        import logging
        log = logging.getLogger("rayobs.corpus")
        def task(x):
            log.info("x=%s", x)
            return x
        """,
        "task",
    ),
    Case(
        "pool_created_inside_the_task",
        """
        from multiprocessing.pool import ThreadPool
        def fan_out(xs):
            with ThreadPool(2) as pool:
                return pool.map(abs, xs)
        """,
        "fan_out",
    ),
]

FAILING_CASES = [case for case in CASES if case.culprits]


def _release(obj: object) -> None:
    """Close what a case opened, so tests leave no processes, threads or descriptors."""
    if isinstance(obj, multiprocessing.pool.Pool):
        obj.terminate()
        obj.join()
    elif isinstance(obj, concurrent.futures.Executor):
        obj.shutdown(wait=False)
    elif isinstance(obj, (socket.socket, io.IOBase, sqlite3.Connection, logging.Handler)):
        obj.close()


@dataclass
class Script:
    namespace: dict[str, Any]
    target: object

    def evaluate(self, expression: str) -> object:
        return eval(expression, dict(self.namespace))


def run_script(case: Case, tmp: Path) -> Script:
    """Execute a case's source as a script's ``__main__`` module would run."""
    namespace: dict[str, Any] = {"__name__": "__main__", "TMP": str(tmp)}
    exec(compile(textwrap.dedent(case.source), f"<{case.id}>", "exec"), namespace)
    return Script(namespace, namespace[case.target])


@pytest.fixture
def script_runner(tmp_path: Path) -> Iterator[Any]:
    opened: list[tuple[Case, Script]] = []

    def run(case: Case) -> Script:
        script = run_script(case, tmp_path)
        opened.append((case, script))
        return script

    yield run
    for case, script in opened:
        for expression in case.culprits.values():
            _release(script.evaluate(expression))


_CLOSURE_CELL = re.compile(r"\.__closure__\[([A-Za-z_]\w*)\]")


def _cell(function: Any, name: str) -> object:
    return function.__closure__[function.__code__.co_freevars.index(name)].cell_contents


def evaluate_path(path: str, root_name: str, root: object) -> object:
    """Evaluate a report path; ``f.__closure__[name]`` is read as the cell of ``name``."""
    expression = path
    while match := _CLOSURE_CELL.search(expression):
        prefix, rest = expression[: match.start()], expression[match.end() :]
        expression = f"_cell({prefix}, {match.group(1)!r}){rest}"
    return eval(expression, {"_cell": _cell, root_name: root})


def test_corpus_is_large_enough() -> None:
    assert len(FAILING_CASES) >= 25
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_rayobs_reports_exactly_the_culprits(case: Case, script_runner: Any) -> None:
    script = script_runner(case)

    report = inspect_serializability(script.target, name=case.target)

    assert report.serializable is (not case.culprits)
    assert set(report.paths) == set(case.culprits)
    assert len(report.paths) == len(case.culprits), "a culprit was reported twice"
    assert not report.truncated
    for path, expression in case.culprits.items():
        culprit = script.evaluate(expression)
        assert evaluate_path(path, case.target, script.target) is culprit, path


@dataclass
class Score:
    culprits: int = 0
    rayobs: int = 0
    ray_default_depth: int = 0
    ray_deep: int = 0
    misses: list[str] = field(default_factory=list)


def _ray_pinpoints(ray_inspect: Any, obj: object, name: str, depth: int) -> set[int]:
    stdout, stderr = sys.stdout, sys.stderr
    try:
        _ok, failures = ray_inspect(obj, name=name, depth=depth, print_file=io.StringIO())
    finally:
        # Ray's inspector re-wraps both streams (colorama.init) for every object it visits.
        sys.stdout, sys.stderr = stdout, stderr
    return {id(failure.obj) for failure in failures}


def test_corpus_score_against_ray_inspector(
    script_runner: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Count the culprits each inspector pinpoints (reports the culprit object itself)."""
    from ray.util import inspect_serializability as ray_inspect

    score = Score()
    for case in FAILING_CASES:
        script = script_runner(case)
        report = inspect_serializability(script.target, name=case.target)
        by_ray = _ray_pinpoints(ray_inspect, script.target, case.target, depth=3)
        by_ray_deep = _ray_pinpoints(ray_inspect, script.target, case.target, depth=20)
        for path, expression in case.culprits.items():
            culprit = script.evaluate(expression)
            score.culprits += 1
            score.rayobs += path in report.paths
            score.ray_default_depth += id(culprit) in by_ray
            score.ray_deep += id(culprit) in by_ray_deep
            if id(culprit) not in by_ray_deep:
                score.misses.append(f"{case.id}: {path}")

    with capsys.disabled():
        print(
            f"\ncorpus: {len(FAILING_CASES)} failing cases, {score.culprits} culprits; "
            f"pinpointed by rayobs {score.rayobs}/{score.culprits}, "
            f"by ray.util.inspect_serializability {score.ray_default_depth}/{score.culprits} "
            f"(depth=3, its default), {score.ray_deep}/{score.culprits} (depth=20)"
        )
    assert score.rayobs == score.culprits
    assert score.rayobs >= score.ray_deep >= 0
    assert score.rayobs >= score.ray_default_depth

"""PyCharm attach: opt-in, bounded waits, and the real pydevd_pycharm.settrace against fake IDEs."""

from __future__ import annotations

import inspect
import logging
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest

import rayobs
import rayobs.debug
from rayobs.debug import attach_pycharm, parse_target
from tests.harness import free_port


@pytest.fixture(autouse=True)
def _fresh_debug(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("RAYOBS_PYCHARM", raising=False)
    rayobs.debug._reset_for_tests()
    yield
    rayobs.debug._reset_for_tests()


class FakeIDE:
    """A TCP server on 127.0.0.1: ``answer=True`` speaks just enough pydevd to say "run"."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received: list[bytes] = []
        self.connections = 0
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            self._conns.append(conn)
            if self.answer:
                threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        try:
            conn.sendall(b"101\t1\t\n")  # CMD_RUN: what PyCharm sends once breakpoints are set
            conn.settimeout(10)
            while data := conn.recv(65536):
                self.received.append(data)
        except OSError:
            pass

    def close(self) -> None:
        self.server.close()
        for conn in self._conns:
            conn.close()


@pytest.fixture
def ide() -> Iterator[FakeIDE]:
    server = FakeIDE(answer=True)
    yield server
    server.close()


@pytest.fixture
def silent_server() -> Iterator[FakeIDE]:
    server = FakeIDE(answer=False)
    yield server
    server.close()


def attach_in_subprocess(call: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """pydevd patches threads and streams process-wide: attach in a throwaway process."""
    code = f"""
        import sys, time, logging
        logging.basicConfig()
        import rayobs.debug
        start = time.monotonic()
        result = {call}
        print("RESULT", result.attached, repr(result.reason), round(time.monotonic() - start, 2))
        print("TRACE", sys.gettrace() is not None)
    """
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_opt_in_only() -> None:
    result = attach_pycharm()
    assert (result.attached, result.reason, result.seconds) == (False, "not configured", 0.0)


def test_nothing_listening_returns_fast_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    caplog.set_level(logging.WARNING, logger="rayobs")
    start = time.monotonic()
    first = attach_pycharm("127.0.0.1", port)
    second = attach_pycharm("127.0.0.1", port)
    assert time.monotonic() - start < 1.5
    assert not first and first.reason.startswith("debugger not reachable")
    assert not second
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "debugger not reachable" in messages[0]


def test_unresolvable_host_returns_fast() -> None:
    start = time.monotonic()
    result = attach_pycharm("no-such-host.invalid", 5678)
    assert time.monotonic() - start < 1.5
    assert not result and "no-such-host.invalid" in result.reason


def test_environment_target_and_malformed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("RAYOBS_PYCHARM", f"127.0.0.1:{port}")
    result = attach_pycharm()
    assert (result.host, result.port) == ("127.0.0.1", port)
    monkeypatch.setenv("RAYOBS_PYCHARM", "localhost")
    result = attach_pycharm()
    assert not result and "RAYOBS_PYCHARM is malformed" in result.reason
    assert rayobs.recording_failures() == {("rayobs.debug", "config", "ValueError"): 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10.0.0.5:5678", ("10.0.0.5", 5678)), ("[::1]:7779", ("::1", 7779)), ("ide:1", ("ide", 1))],
)
def test_parse_target(text: str, expected: tuple[str, int]) -> None:
    assert parse_target(text) == expected


@pytest.mark.parametrize("text", ["", "host", ":5678", "host:0", "host:70000", "host:port"])
def test_parse_target_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        parse_target(text)


def test_explicit_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="port"):
        attach_pycharm("127.0.0.1", 0)
    with pytest.raises(ValueError, match="RAYOBS_PYCHARM"):
        attach_pycharm("127.0.0.1")


def test_real_settrace_attaches_to_an_ide_that_answers(ide: FakeIDE) -> None:
    result = attach_in_subprocess(
        f"rayobs.debug.attach_pycharm('127.0.0.1', {ide.port}, handshake_timeout=10)"
    )
    assert result.returncode == 0, result.stderr
    assert "RESULT True 'attached'" in result.stdout  # TypeError on the arguments would say so
    assert "TRACE True" in result.stdout
    assert ide.connections == 2  # the probe, then pydevd itself
    # stdout_to_server=True: the worker's prints also reach the IDE (pydevd command 116)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and b"116\t" not in b"".join(ide.received):
        time.sleep(0.05)
    assert b"RESULT" in b"".join(ide.received)


def test_the_arguments_rayobs_passes_exist_in_pydevd_pycharm() -> None:
    import pydevd_pycharm

    parameters = inspect.signature(pydevd_pycharm.settrace).parameters
    assert {"port", "stdout_to_server", "stderr_to_server", "suspend"} <= set(parameters)
    assert "stdoutToServer" not in parameters  # the spelling in older docs


def test_a_server_that_never_answers_costs_the_handshake_timeout_only(
    silent_server: FakeIDE,
) -> None:
    result = attach_in_subprocess(
        f"rayobs.debug.attach_pycharm('127.0.0.1', {silent_server.port}, handshake_timeout=1)"
    )
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT"))
    assert line.startswith("RESULT False 'debugger did not answer within 1s'")
    assert float(line.rsplit(" ", 1)[1]) < 2.5  # 1 s of waiting plus pydevd's own 0.1 s steps
    assert "TRACE False" in result.stdout  # pydevd's tracing was undone
    assert "did not answer within 1s" in result.stderr


@rayobs.debug.pycharm
class Bloop:
    """An actor-like class."""

    def __init__(self, start: int, *, step: int = 1) -> None:
        self.value = start
        self.step = step

    def dothing(self, x: int) -> int:
        return x + self.step


def test_decorator_keeps_the_class_and_its_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (
        str(inspect.signature(Bloop.__init__))
        == "(self, start: 'int', *, step: 'int' = 1) -> 'None'"
    )
    assert Bloop.__doc__ == "An actor-like class."
    monkeypatch.setenv("RAYOBS_PYCHARM", f"127.0.0.1:{free_port()}")
    start = time.monotonic()
    bloop = Bloop(1, step=2)
    assert time.monotonic() - start < 1.5
    assert bloop.dothing(1) == 3
    with pytest.raises(TypeError, match="decorates classes"):
        rayobs.debug.pycharm(lambda: None)  # type: ignore[type-var]


def test_decorator_with_arguments_attaches_in_each_instance(ide: FakeIDE) -> None:
    code = f"""
        import rayobs.debug
        @rayobs.debug.pycharm(host="127.0.0.1", port={ide.port})
        class Actor:
            def __init__(self):
                import sys
                self.traced = sys.gettrace() is not None
        print("TRACED", Actor().traced)
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "TRACED True" in result.stdout


def test_pycharm_decorator_on_a_ray_actor_without_its_own_init() -> None:
    import ray

    @ray.remote
    @rayobs.debug.pycharm
    class NoInit:
        def ping(self) -> int:
            return 1

    assert hasattr(NoInit, "remote")  # Ray accepted the class and read its signatures

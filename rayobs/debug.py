"""Attach a Ray worker to PyCharm's debug server, without ever hanging the worker.

Opt in with ``RAYOBS_PYCHARM=host:port`` (or explicit arguments), start
PyCharm's "Python Debug Server" run configuration on that port, then::

    import rayobs.debug

    @ray.remote
    @rayobs.debug.pycharm
    class Bloop:
        def dothing(self, x):
            return x + 1          # a breakpoint here stops in PyCharm

or call ``rayobs.debug.attach_pycharm()`` anywhere in a task, or let the worker
setup hook do it (``rayobs.hooks``).

The worker connects *out* to the IDE; nothing listens on the cluster. Before
handing over to ``pydevd_pycharm.settrace``, the port is probed with a bounded
wait (name lookup included), so an IDE that is not running costs the worker
at most ``probe_timeout`` (1 s) and one log line. Something that accepts but
never answers like PyCharm (a tunnel whose far end is down, another server)
is given ``handshake_timeout`` (2 s) before the worker carries on undebugged.

Security: a connected debugger can run any code in the worker, and pydevd's
protocol is neither authenticated nor encrypted. Point ``RAYOBS_PYCHARM`` only
at an IDE you control, over loopback or an SSH tunnel, on clusters meant for
debugging.
"""

from __future__ import annotations

import ctypes
import functools
import inspect
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from rayobs import _config
from rayobs.metrics import _failures

__all__ = ["Attach", "attach_pycharm", "attach_pycharm_to", "parse_target", "pycharm"]

logger = logging.getLogger("rayobs")

C = TypeVar("C", bound=type)

PROBE_TIMEOUT = 1.0
HANDSHAKE_TIMEOUT = 2.0
_FAILURE_KEY = "rayobs.debug"

_lock = threading.Lock()
_attached: tuple[str, int] | None = None
_gave_up = False  # pydevd keeps global state: after a failed handshake, don't retry
_logged: set[str] = set()


@dataclass(frozen=True)
class Attach:
    """What ``attach_pycharm`` did. True when this process is now connected to the IDE."""

    attached: bool
    reason: str
    host: str | None = None
    port: int | None = None
    seconds: float = 0.0

    def __bool__(self) -> bool:
        return self.attached


def parse_target(value: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6addr]:port`` for IPv6 literals).

    >>> parse_target("10.0.0.5:5678")
    ('10.0.0.5', 5678)
    """
    host, sep, port_text = value.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"expected host:port for the PyCharm debug server, got {value!r}")
    return host, int(port_text)


def attach_pycharm(
    host: str | None = None,
    port: int | None = None,
    suspend: bool = False,
    *,
    probe_timeout: float = PROBE_TIMEOUT,
    handshake_timeout: float = HANDSHAKE_TIMEOUT,
    stdout_to_server: bool = True,
    stderr_to_server: bool = True,
) -> Attach:
    """Connect this process to a PyCharm debug server if one answers; otherwise carry on.

    ``host``/``port`` default to ``RAYOBS_PYCHARM``; with neither, nothing happens
    (opt-in). ``suspend`` stops at the caller's line once attached. Never raises
    for an unreachable or misbehaving IDE; raises ``ValueError`` for bad arguments.

    >>> import rayobs.debug
    >>> rayobs.debug.attach_pycharm().reason   # RAYOBS_PYCHARM unset
    'not configured'
    """
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"port must be 1-65535, got {port!r}")
    if host is None or port is None:
        configured = _config.get(_config.PYCHARM).strip()
        if configured:
            try:
                env_host, env_port = parse_target(configured)
            except ValueError as exc:
                _failures.report(_FAILURE_KEY, "config", exc)
                return Attach(False, f"{_config.PYCHARM.env} is malformed: {exc}")
            host = host if host is not None else env_host
            port = port if port is not None else env_port
        elif host is None and port is None:
            return Attach(False, "not configured")
    if host is None or port is None:
        raise ValueError("give both host and port, or set RAYOBS_PYCHARM=host:port")
    return _attach(
        host,
        port,
        suspend=suspend,
        probe_timeout=probe_timeout,
        handshake_timeout=handshake_timeout,
        stdout_to_server=stdout_to_server,
        stderr_to_server=stderr_to_server,
    )


def attach_pycharm_to(target: str, suspend: bool = False) -> Attach:
    """``attach_pycharm`` for a ``host:port`` string (what the setup hook passes)."""
    host, port = parse_target(target)
    return attach_pycharm(host, port, suspend)


def _attach(
    host: str,
    port: int,
    *,
    suspend: bool,
    probe_timeout: float,
    handshake_timeout: float,
    stdout_to_server: bool,
    stderr_to_server: bool,
) -> Attach:
    global _attached, _gave_up
    started = time.monotonic()
    with _lock:
        if _attached is not None:
            return Attach(True, "already attached", *_attached)
        if _gave_up:
            return Attach(False, "an earlier attach failed in this process", host, port)
        address = _probe(host, port, probe_timeout)
        if isinstance(address, str):
            _log_once(
                f"unreachable {host}:{port}",
                "rayobs: PyCharm debugger not reachable at %s:%d (%s); continuing without it",
                host,
                port,
                address,
            )
            return Attach(False, f"debugger not reachable: {address}", host, port, _since(started))
        try:
            import pydevd_pycharm
        except ImportError:
            _log_once(
                "no pydevd",
                "rayobs: PyCharm debugging needs pydevd-pycharm: pip install 'rayobs[debug]'",
            )
            return Attach(False, "pydevd-pycharm is not installed", host, port)
        kwargs = {
            "port": port,
            "stdout_to_server": stdout_to_server,
            "stderr_to_server": stderr_to_server,
            "suspend": suspend,
        }
        # pydevd's own socket is IPv4-only and resolves again: hand it the address just probed.
        outcome = _settrace_within(pydevd_pycharm, address[0], kwargs, handshake_timeout)
        if outcome is None:
            _attached = (host, port)
            return Attach(True, "attached", host, port, _since(started))
        _gave_up = True
        return Attach(False, outcome, host, port, _since(started))


def _probe(host: str, port: int, timeout: float) -> tuple[str, int] | str:
    """The IPv4 address that accepted a connection, or why none did, within ``timeout``."""
    deadline = time.monotonic() + timeout
    found: list[Any] = []

    def resolve() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM))
        except OSError as exc:
            found.append(exc)

    # getaddrinfo has no timeout of its own: a dead DNS server would stall the worker.
    resolver = threading.Thread(target=resolve, name="rayobs-pycharm-resolve", daemon=True)
    resolver.start()
    resolver.join(timeout)
    if not found:
        return f"name lookup for {host!r} took more than {timeout:g}s"
    if isinstance(found[0], OSError):
        return f"cannot resolve {host!r}: {found[0]}"
    why = f"no IPv4 address for {host!r}"
    for *_, sockaddr in found[0]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return f"no answer within {timeout:g}s"
        try:
            with socket.create_connection(sockaddr[:2], timeout=remaining):
                return (str(sockaddr[0]), int(sockaddr[1]))
        except OSError as exc:
            why = f"{type(exc).__name__}: {exc}"
    return why


class _HandshakeTimeout(Exception):
    """Raised into the attaching thread when the IDE does not answer in time."""


def _settrace_within(
    pydevd_pycharm: Any, host: str, kwargs: dict[str, Any], timeout: float
) -> str | None:
    """Call ``settrace``; ``None`` on success, else why it did not attach.

    ``settrace`` connects, then polls until the IDE sends "run", with no
    timeout. It must run in the thread to be debugged, so a watchdog thread
    interrupts it by raising ``_HandshakeTimeout`` in this thread instead.
    """
    tid = threading.get_ident()
    saved = sys.stdout, sys.stderr
    done = threading.Event()
    guard = threading.Lock()
    state = {"waiting": True, "fired": False}

    def watchdog() -> None:
        if done.wait(timeout):
            return
        with guard:
            if state["waiting"]:
                state["fired"] = True
                _async_raise(tid, _HandshakeTimeout)

    threading.Thread(target=watchdog, name="rayobs-pycharm-watchdog", daemon=True).start()
    try:
        try:
            pydevd_pycharm.settrace(host, **kwargs)
        finally:
            with guard:
                state["waiting"] = False
                if state["fired"]:
                    _async_raise(tid, None)  # not delivered yet: cancel it
            done.set()
    except _HandshakeTimeout:
        _undo(pydevd_pycharm, saved)
        _log_once(
            f"silent {host}",
            "rayobs: something accepted the PyCharm debugger connection at %s:%s but did not "
            "answer within %gs; continuing without the debugger",
            host,
            kwargs["port"],
            timeout,
        )
        return f"debugger did not answer within {timeout:g}s"
    except Exception as exc:
        _undo(pydevd_pycharm, saved)
        _failures.report(_FAILURE_KEY, "settrace", exc)
        return f"settrace failed: {type(exc).__name__}: {exc}"
    return None


def _async_raise(tid: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(tid), None if exc is None else ctypes.py_object(exc)
    )


def _undo(pydevd_pycharm: Any, saved: tuple[Any, Any]) -> None:
    """Stop pydevd's threads and tracing and give the worker its own streams back."""
    try:
        pydevd_pycharm.stoptrace()
    except Exception as exc:
        _failures.report(_FAILURE_KEY, "stoptrace", exc)
    sys.stdout, sys.stderr = saved


def _log_once(key: str, message: str, *args: Any) -> None:
    if key not in _logged:
        _logged.add(key)
        logger.warning(message, *args)


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


@overload
def pycharm(cls: C, /) -> C: ...
@overload
def pycharm(
    cls: None = None, /, *, host: str | None = None, port: int | None = None, suspend: bool = False
) -> Callable[[C], C]: ...
def pycharm(
    cls: C | None = None,
    /,
    *,
    host: str | None = None,
    port: int | None = None,
    suspend: bool = False,
) -> C | Callable[[C], C]:
    """Class decorator: each instance (each Ray actor) attaches before ``__init__`` runs.

    Put it *below* ``@ray.remote``. The class, its ``__init__`` signature and its
    methods are unchanged, so Ray sees the same actor.

    >>> import rayobs.debug
    >>> @rayobs.debug.pycharm
    ... class Bloop:
    ...     def dothing(self, x):
    ...         return x + 1
    >>> Bloop().dothing(1)   # RAYOBS_PYCHARM unset: no debugger, no delay
    2
    """

    def decorate(target: C) -> C:
        if not isinstance(target, type):
            raise TypeError(
                f"rayobs.debug.pycharm decorates classes (actors), not {type(target).__name__}; "
                "in a task call rayobs.debug.attach_pycharm() instead"
            )
        original: Callable[..., None] = target.__dict__.get("__init__") or target.__init__  # type: ignore[misc]

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            attach_pycharm(host, port, suspend)
            original(self, *args, **kwargs)

        if inspect.isfunction(original):
            # keep the user's signature and name; object.__init__ (a class with no
            # __init__ of its own) is a C slot that has neither to copy
            __init__ = functools.wraps(original)(__init__)
        target.__init__ = __init__  # type: ignore[misc]
        return target

    return decorate if cls is None else decorate(cls)


def _reset_for_tests() -> None:
    global _attached, _gave_up
    with _lock:
        _attached, _gave_up = None, False
        _logged.clear()

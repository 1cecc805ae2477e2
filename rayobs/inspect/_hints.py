"""Known offenders: objects that never pickle, and what to do instead.

Offenders are recognized by the qualified names in their type's MRO (so
subclasses match) or by their top-level package, without importing anything.
A known offender is reported as one failure: the fix applies to the object as
a whole (create the pool in the worker), not to the lock buried inside it.
"""

from __future__ import annotations

import importlib.machinery
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Offender:
    """A family of unpicklable objects and the fix to suggest for it."""

    kind: str
    hint: str


LOCK = Offender(
    "lock",
    "Locks, conditions, semaphores and events only work inside one process. Create it "
    "where it is used (inside the task, or in the actor's __init__), or drop it in "
    "__getstate__ and recreate it in __setstate__; to coordinate workers, use an actor.",
)
POOL = Offender(
    "pool",
    "A process or thread pool owns running workers and cannot be shipped. Create it "
    "inside the task or actor, or let Ray do the fan-out (tasks, or "
    "ray.util.multiprocessing.Pool).",
)
THREAD = Offender(
    "thread",
    "A running thread or process cannot be shipped. Start it inside the task or actor.",
)
SOCKET = Offender(
    "socket",
    "A socket is an open connection of this process. Pass the address (host, port) and "
    "connect inside the task, or keep the connection in an actor created once.",
)
FILE = Offender(
    "file",
    "An open file handle cannot be shipped (cloudpickle only copies the contents of files "
    "open for reading). Pass the path and open the file inside the task.",
)
GENERATOR = Offender(
    "generator",
    "A generator (or coroutine) holds a suspended frame and cannot be pickled. Ship "
    "list(...) of it, or the arguments that recreate it inside the task.",
)
DATABASE = Offender(
    "database client",
    "Database connections, cursors and clients are bound to this process. Pass the "
    "connection parameters (database path, DSN, URL) and connect inside the task, or "
    "hold the connection in an actor.",
)
HTTP = Offender(
    "http client",
    "HTTP/RPC clients and sessions hold connection pools and sockets. Pass the URL and "
    "settings, and create the client inside the task (or once in an actor's __init__).",
)
HANDLER = Offender(
    "logging handler",
    "A logging handler holds a lock and an open stream. Capture the logger instead "
    "(loggers pickle by name) and attach handlers in the worker, e.g. in "
    "runtime_env={'worker_process_setup_hook': ...}.",
)
METRIC = Offender(
    "ray metric",
    "Ray's metric objects do not survive pickling intact (the backend object cannot be "
    "pickled; ray.util.metrics drops default tags). Use rayobs.Counter/Gauge/Histogram: "
    "they pickle with their whole spec and bind to the backend on first use.",
)
QUEUE = Offender(
    "queue",
    "A process-local queue cannot be shipped. Use ray.util.queue.Queue (backed by an "
    "actor), or pass data through task arguments and return values.",
)
EVENT_LOOP = Offender(
    "event loop",
    "An asyncio event loop belongs to one thread of one process. Get the running loop "
    "inside the task or async actor instead.",
)
FRAME = Offender(
    "frame",
    "Frames and tracebacks cannot be pickled. Ship traceback.format_exc() (a string) "
    "or the exception itself.",
)
MODULE = Offender(
    "module",
    "This module is not importable on the workers, so it would be copied by value. "
    "Import it inside the function, or make it importable on the workers "
    "(runtime_env 'py_modules' or 'working_dir').",
)
C_EXTENSION = Offender(
    "C extension object",
    "This object is implemented in C and has no pickle support. Create it inside the "
    "task or actor from picklable parameters, or register a serializer with "
    "ray.util.register_serializer(type, serializer=..., deserializer=...).",
)
RECURSION = Offender(
    "too deep",
    "The object graph is nested deeper than pickle's recursion limit allows. Flatten "
    "the structure (e.g. a linked list into a list) or ship it in pieces.",
)
GENERIC = Offender(
    "unpicklable object",
    "Create this object inside the task or actor instead of capturing it, pass the "
    "picklable parameters it is built from, or give its class __getstate__/__setstate__ "
    "(or __reduce__); ray.util.register_serializer can register a custom serializer.",
)

# Qualified names as they appear in type(obj).__mro__ (module.qualname).
_BY_TYPE: dict[str, Offender] = {
    "_thread.lock": LOCK,
    "_thread.RLock": LOCK,
    "threading.Condition": LOCK,
    "threading.Semaphore": LOCK,
    "threading.Event": LOCK,
    "threading.Barrier": LOCK,
    "multiprocessing.synchronize.SemLock": LOCK,
    "multiprocessing.synchronize.Condition": LOCK,
    "multiprocessing.synchronize.Event": LOCK,
    "multiprocessing.synchronize.Barrier": LOCK,
    "asyncio.locks.Lock": LOCK,
    "asyncio.locks.Condition": LOCK,
    "asyncio.locks.Semaphore": LOCK,
    "asyncio.locks.Event": LOCK,
    "multiprocessing.pool.Pool": POOL,
    "concurrent.futures._base.Executor": POOL,
    "threading.Thread": THREAD,
    "multiprocessing.process.BaseProcess": THREAD,
    "_socket.socket": SOCKET,
    "ssl.SSLContext": SOCKET,
    "ssl.SSLObject": SOCKET,
    "_io._IOBase": FILE,
    "builtins.generator": GENERATOR,
    "builtins.coroutine": GENERATOR,
    "builtins.async_generator": GENERATOR,
    "sqlite3.Connection": DATABASE,
    "sqlite3.Cursor": DATABASE,
    "sqlite3.Blob": DATABASE,
    "http.client.HTTPConnection": HTTP,
    "requests.sessions.Session": HTTP,
    "urllib3.poolmanager.PoolManager": HTTP,
    "urllib3.connectionpool.ConnectionPool": HTTP,
    "logging.Handler": HANDLER,
    "ray.util.metrics.Metric": METRIC,
    "ray._raylet.Metric": METRIC,
    "queue.Queue": QUEUE,
    "_queue.SimpleQueue": QUEUE,
    "multiprocessing.queues.Queue": QUEUE,
    "multiprocessing.queues.SimpleQueue": QUEUE,
    "asyncio.queues.Queue": QUEUE,
    "asyncio.events.AbstractEventLoop": EVENT_LOOP,
    "builtins.frame": FRAME,
    "builtins.traceback": FRAME,
}

# Top-level packages whose failing objects are (almost always) clients of a service.
_BY_PACKAGE: dict[str, Offender] = {
    "psycopg": DATABASE,
    "psycopg2": DATABASE,
    "pymysql": DATABASE,
    "MySQLdb": DATABASE,
    "mysql": DATABASE,
    "pymongo": DATABASE,
    "motor": DATABASE,
    "redis": DATABASE,
    "sqlalchemy": DATABASE,
    "asyncpg": DATABASE,
    "duckdb": DATABASE,
    "cx_Oracle": DATABASE,
    "oracledb": DATABASE,
    "cassandra": DATABASE,
    "elasticsearch": DATABASE,
    "httpx": HTTP,
    "aiohttp": HTTP,
    "grpc": HTTP,
    "botocore": HTTP,
    "boto3": HTTP,
}


def _type_names(cls: type) -> list[str]:
    return [f"{base.__module__}.{base.__qualname__}" for base in cls.__mro__]


def known_offender(obj: object) -> Offender | None:
    """The offender family of ``obj``, or ``None`` when its type is not a known offender.

    >>> import threading
    >>> known_offender(threading.Lock()).kind
    'lock'
    """
    cls = type(obj)
    for name in _type_names(cls):
        offender = _BY_TYPE.get(name)
        if offender is not None:
            return offender
    return _BY_PACKAGE.get(cls.__module__.partition(".")[0])


def _is_c_extension_type(cls: type) -> bool:
    module = sys.modules.get(cls.__module__)
    if module is None or cls.__module__ == "builtins":
        return False
    filename: str | None = getattr(module, "__file__", None)
    if filename is None:  # compiled into the interpreter, like _thread
        return True
    return filename.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def offender_for(obj: object, error: BaseException) -> Offender:
    """The offender family to blame for ``obj`` failing with ``error`` (never ``None``)."""
    known = known_offender(obj)
    if known is not None:
        return known
    if isinstance(error, RecursionError) or "recursion" in str(error):
        return RECURSION
    if isinstance(obj, type(sys)):
        return MODULE
    if _is_c_extension_type(type(obj)):
        return C_EXTENSION
    return GENERIC


def is_opaque(obj: object, error: BaseException) -> bool:
    """Whether a failing ``obj`` is blamed as a whole instead of being taken apart.

    Known offenders are (a pool's internal locks are not the point), and so is
    anything that fails for being too deep: every level below fails the same way.
    """
    return known_offender(obj) is not None or offender_for(obj, error) is RECURSION

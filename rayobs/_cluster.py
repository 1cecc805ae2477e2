"""Contacting a running Ray cluster: where it is, what Ray needs first, deadlines, errors.

Every command that reads a live cluster (``rayobs diagnose``, ``memory``,
``top``) comes through here, so ``--address`` means the same everywhere and a
cluster that cannot be read fails the same way: one line, within the timeout.

An address is what users type: the GCS address ``HOST:PORT`` (what ``ray
start`` prints; ``ray.init`` and ``ray memory`` take it) or the dashboard URL
``http://HOST:PORT`` (what ``ray job submit`` takes, often from
``RAY_ADDRESS``). Each reader gets the form it needs: the state API answers at
the dashboard, whose URL the GCS keeps; the node table is the GCS's, whose
address the dashboard shows in every raylet's command line.

Ray waits about 40 s for a GCS that does not answer and aborts the process when
a configured token file cannot be read, so the token settings are checked
first, a refused port fails at once, and every call into Ray runs under a
deadline. Ray is imported only inside the functions that need it.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

TESTED_WITH = "2.60"  # the Ray whose private APIs this module reads

T = TypeVar("T")


class ClusterUnavailable(RuntimeError):
    """No cluster answered, it refused us, or it could not be found (one line, says what to do)."""


class RayInternalsChanged(ClusterUnavailable):
    """The private Ray API rayobs reads is not what it expects (one line)."""


@dataclass(frozen=True)
class ClusterAddress:
    """A running cluster as ``--address`` or ``RAY_ADDRESS`` named it, or ``None``: Ray finds it.

    ``gcs`` is set for ``HOST:PORT``, ``dashboard`` for a URL; neither for
    ``auto``, ``local``, a Ray Client address (``ray://``) or nothing named.
    """

    text: str | None
    source: str = "--address"  # where the text came from: "--address" or "RAY_ADDRESS"
    gcs: str | None = None
    dashboard: str | None = None

    @property
    def where(self) -> str:
        return self.text or "the local cluster"

    @property
    def target(self) -> str | None:
        """What to probe before Ray is imported: the GCS address or the dashboard URL."""
        return self.gcs or self.dashboard

    @property
    def client(self) -> bool:
        return bool(self.text and self.text.startswith("ray://"))


_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]@]+):\d{1,5}$")


def parse_address(address: str | None, environ: Mapping[str, str] | None = None) -> ClusterAddress:
    """``address`` (else ``RAY_ADDRESS``) as a GCS address or a dashboard URL.

    Raises ``ClusterUnavailable`` for anything else, naming where it came from.

    >>> parse_address("127.0.0.1:6379").gcs
    '127.0.0.1:6379'
    >>> parse_address("http://127.0.0.1:8265/").dashboard
    'http://127.0.0.1:8265'
    >>> parse_address(None, {"RAY_ADDRESS": "10.0.0.5:6379"}).source
    'RAY_ADDRESS'
    >>> parse_address(None, {}).where
    'the local cluster'
    """
    env = os.environ if environ is None else environ
    text, source = address, "--address"
    if text is None:
        text, source = env.get("RAY_ADDRESS") or None, "RAY_ADDRESS"
    if text is None or text in ("auto", "local") or text.startswith("ray://"):
        return ClusterAddress(text, source)
    given = text.strip()
    if _HOST_PORT.match(given):
        return ClusterAddress(text, source, gcs=given)
    parts = urllib.parse.urlsplit(given)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts.scheme in ("http", "https") and parts.hostname and port_ok:
        return ClusterAddress(text, source, dashboard=given.rstrip("/"))
    raise ClusterUnavailable(
        f"{source} takes the cluster's GCS address HOST:PORT (e.g. 127.0.0.1:6379) or its "
        f"dashboard URL (e.g. http://127.0.0.1:8265), not {text!r}"
    )


def prepare_environment(environ: MutableMapping[str, str] | None = None) -> None:
    """Set what must be set before Ray is imported.

    Loopback single-node mode (Ray 2.60 otherwise rewrites 127.0.0.1 to the
    routable address), and token authentication when a token is configured but
    ``RAY_AUTH_MODE`` is not (as ``ray start`` does): a token cluster rejects a
    client that does not send one.
    """
    env = os.environ if environ is None else environ
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    if "RAY_AUTH_MODE" not in env and (
        env.get("RAY_AUTH_TOKEN")
        or env.get("RAY_AUTH_TOKEN_PATH")
        or (Path.home() / ".ray" / "auth_token").is_file()
    ):
        env["RAY_AUTH_MODE"] = "token"


def check_token_settings(environ: Mapping[str, str] | None = None) -> None:
    """Fail in one line where Ray would abort the process over its token settings."""
    env = os.environ if environ is None else environ
    path = env.get("RAY_AUTH_TOKEN_PATH")
    if path:
        try:
            readable = bool(Path(path).read_text(encoding="utf-8").strip())
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ClusterUnavailable(
                f"RAY_AUTH_TOKEN_PATH names {path}, which cannot be read ({reason})"
            ) from None
        if not readable:
            raise ClusterUnavailable(f"RAY_AUTH_TOKEN_PATH names {path}, which is empty")
        return
    if (
        env.get("RAY_AUTH_MODE", "").lower() == "token"
        and not env.get("RAY_AUTH_TOKEN")
        and not (Path.home() / ".ray" / "auth_token").is_file()
    ):
        raise ClusterUnavailable(
            "RAY_AUTH_MODE=token but no token is configured: set RAY_AUTH_TOKEN or "
            "RAY_AUTH_TOKEN_PATH"
        )


def refuse_fast(target: str, timeout: float) -> None:
    """One TCP connect to ``HOST:PORT`` or a URL, so that a port nobody listens on fails now.

    Unreachable or slow is left to Ray, under its deadline; only a refusal is final.
    """
    parts = urllib.parse.urlsplit(target if "://" in target else f"//{target}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        return
    if port is None and parts.scheme in ("http", "https"):
        port = 443 if parts.scheme == "https" else 80
    if not host or port is None:
        return
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except ConnectionRefusedError:
        raise ClusterUnavailable(
            f"no Ray cluster at {target}: nothing listens on that port"
        ) from None
    except OSError:
        return


def within(deadline: float, late: str, call: Callable[[], T], where: str) -> T:
    """Run ``call`` in a daemon thread and stop waiting at ``deadline`` (Ray's waits are long).

    Raises ``ClusterUnavailable``: ``late`` when time is up, else what ``call``
    raised, explained in one line (``explain``).
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="rayobs-cluster", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    if thread.is_alive():
        raise ClusterUnavailable(f"{late} (timed out)")
    if "error" in outcome:
        raise explain(outcome["error"], where) from None
    value: T = outcome["value"]
    return value


_AUTH_FAILURE = re.compile(
    r"\b(?:401|403)\b|Unauthori[sz]ed|Unauthenticated|Forbidden|InvalidAuthToken|[Aa]uthenticat"
)


def explain(error: BaseException, where: str) -> ClusterUnavailable:
    """What Ray raised while reading the cluster at ``where``, as one line that says what to do."""
    if isinstance(error, ClusterUnavailable):
        return error
    text = " ".join(str(error).split())
    if _AUTH_FAILURE.search(text) or "Authentication" in type(error).__name__:
        return ClusterUnavailable(
            f"the cluster at {where} refused our token: set RAY_AUTH_TOKEN or "
            f"RAY_AUTH_TOKEN_PATH to its token (and RAY_AUTH_MODE=token). Ray said: {text[:200]}"
        )
    if "Could not find any running Ray instance" in text:
        return ClusterUnavailable(
            "no running Ray cluster found: pass --address (the GCS address HOST:PORT or the "
            "dashboard URL) or set RAY_ADDRESS"
        )
    if "Timed out while waiting for GCS" in text:
        return ClusterUnavailable(f"no Ray cluster answered at {where}")
    if isinstance(error, ImportError | AttributeError):
        return RayInternalsChanged(
            f"Ray's private API changed ({error}); rayobs was tested with Ray {TESTED_WITH}"
        )
    return ClusterUnavailable(
        f"cannot read the cluster at {where}: {type(error).__name__}: {text[:200]}"
    )


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send what native code writes to file descriptor 2 to /dev/null for the duration.

    Ray's native client logs its connection retries straight to fd 2; a command
    that contacts a cluster keeps them off the terminal, so that a failure reads
    as its one line.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


# --- the GCS ----------------------------------------------------------------------------

_GCS_FLAG = "--gcs-address="
_SUMMARY = "/nodes?view=summary"


def gcs_address(named: ClusterAddress, deadline: float) -> str:
    """The GCS address of the named cluster (Ray imported; call it under ``within``).

    For a dashboard URL the dashboard is asked: it names no GCS address as such,
    but its node summary carries each raylet's command line, and every raylet is
    started with ``--gcs-address=HOST:PORT``. The summary fills in a few seconds
    after a cluster starts, so it is asked again until ``deadline``. Otherwise
    Ray's own resolution (``RAY_ADDRESS``, then the local cluster, when nothing
    was named).
    """
    if named.dashboard is None:
        from ray._private import services

        given: Any = named.gcs or named.text  # None: Ray's discovery
        canonical: str = services.canonicalize_bootstrap_address_or_die(given)
        return canonical
    from ray.util.state import StateApiClient

    client = StateApiClient(address=named.dashboard)
    while True:
        wait = max(1.0, deadline - time.monotonic())
        response = client._do_request("GET", _SUMMARY, timeout=wait)
        response.raise_for_status()
        try:
            nodes = response.json()["data"]["summary"]
            flags = [arg for node in nodes for arg in node.get("cmdline") or () if arg]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RayInternalsChanged(
                f"{named.dashboard}{_SUMMARY} is not shaped as Ray {TESTED_WITH}'s dashboard "
                f"answers it ({type(exc).__name__}: {exc}): pass the GCS address HOST:PORT"
            ) from None
        found = [str(arg)[len(_GCS_FLAG) :] for arg in flags if str(arg).startswith(_GCS_FLAG)]
        if found:
            return found[0]
        if time.monotonic() + 0.5 >= deadline:
            raise ClusterUnavailable(
                f"the dashboard at {named.dashboard} does not show its cluster's GCS address "
                "(yet): pass the GCS address HOST:PORT"
            )
        time.sleep(0.5)


def alive_nodes(address: str | None, timeout: float) -> tuple[str, list[Any]]:
    """The GCS address of the cluster at ``address`` and the ``GcsNodeInfo`` of its alive nodes.

    As ``node_table``, without the dead nodes.
    """
    bootstrap, nodes = node_table(address, timeout)
    alive = _gcs_client()[1]
    return bootstrap, [node for node in nodes if node.state == alive]


def node_table(address: str | None, timeout: float) -> tuple[str, list[Any]]:
    """The GCS address of the cluster at ``address`` and the ``GcsNodeInfo`` of every node.

    Alive and dead: the GCS keeps the nodes that died (with ``death_info``
    and ``end_time_ms``) for as long as it runs, up to a limit.

    ``address`` is read by ``parse_address`` (``None``: ``RAY_ADDRESS``, then
    the local cluster). Raises ``ClusterUnavailable`` when no cluster answers
    within ``timeout`` seconds, ``RayInternalsChanged`` when Ray's private GCS
    client moved.
    """
    named = parse_address(address)
    if named.client:
        raise ClusterUnavailable(
            f"{named.source} is a Ray Client address ({named.text}): pass the cluster's GCS "
            "address HOST:PORT or its dashboard URL"
        )
    check_token_settings()
    deadline = time.monotonic() + timeout
    if named.target:
        refuse_fast(named.target, min(2.0, timeout))  # before paying for `import ray`
    prepare_environment()
    client_class = _gcs_client()[0]

    def connect() -> tuple[str, list[Any]]:
        bootstrap = gcs_address(named, deadline)
        if bootstrap != named.gcs:  # found by Ray's discovery or the dashboard: check it too
            refuse_fast(bootstrap, max(0.1, min(2.0, deadline - time.monotonic())))
        client = client_class(address=bootstrap, cluster_id=None)
        nodes = client.get_all_node_info(timeout=max(1.0, deadline - time.monotonic()))
        return bootstrap, list(nodes.values())

    late = f"no Ray cluster answered at {named.where}"
    if named.dashboard:  # reached through a port-forward, its GCS address may not be reachable
        late += ", or not at the GCS address its dashboard shows: pass a GCS address HOST:PORT"
    return within(deadline, late, connect, named.where)


def _gcs_client() -> tuple[Callable[..., Any], int]:
    """Ray's private GCS client class, and the state of an alive node in its node table."""
    try:
        import ray
    except ImportError:
        raise ClusterUnavailable("reading a cluster needs Ray: pip install 'rayobs[ray]'") from None
    try:
        from ray._raylet import GcsClient  # type: ignore[attr-defined]
        from ray.core.generated import gcs_pb2

        alive = gcs_pb2.GcsNodeInfo.GcsNodeState.Value("ALIVE")  # type: ignore[attr-defined]
        return GcsClient, int(alive)
    except (ImportError, AttributeError) as exc:
        raise RayInternalsChanged(
            f"Ray {getattr(ray, '__version__', '?')} no longer has the GCS client rayobs reads "
            f"(tested with Ray {TESTED_WITH}: {exc})"
        ) from None

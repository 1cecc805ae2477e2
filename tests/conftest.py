"""Session fixtures: one real local Ray head and one real Prometheus for the whole run.

Tests that use ``ray_cluster``/``ray_driver`` are marked ``ray`` and those that
use ``prometheus`` are marked ``prometheus`` automatically, so
``pytest -m "not ray and not prometheus"`` is the fast unit tier.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests import requires
from tests.harness import Prometheus, RayCluster, default_signals, new_token

if TYPE_CHECKING:
    from tests.multinode import MultiNodeCluster

# However the suite was started (`nohup`, `make test &` in a script), the tests
# and every process they start see SIGINT and SIGTERM as an interactive run does.
default_signals()

# Ray reads these once per process, when it is first imported, so they are set
# here, before any test module can import Ray. Without the first, Ray 2.60 swaps
# 127.0.0.1 for the machine's routable address; the token lives in a temp dir so
# nothing is written to ~/.ray and every run is deterministic.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="rayobs-session-", dir="/tmp"))
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_AUTH_MODE"] = "token"
os.environ["RAY_AUTH_TOKEN_PATH"] = str(new_token(_SESSION_DIR))
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ.pop("RAY_AUTH_TOKEN", None)
os.environ.pop("RAY_ADDRESS", None)

import pytest  # noqa: E402

import rayobs.testing  # noqa: E402

_RAY_FIXTURES = {"ray_cluster", "ray_driver", "multinode_cluster"}
_PROM_FIXTURES = {"prometheus"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & _RAY_FIXTURES:
            item.add_marker(pytest.mark.ray)
        if names & _PROM_FIXTURES:
            item.add_marker(pytest.mark.prometheus)


def pytest_sessionfinish() -> None:
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def _fresh_rayobs() -> Iterator[None]:
    """Every test starts with no declarations, no chosen backend and no overrides."""
    rayobs.testing.reset()
    yield
    rayobs.testing.reset()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """A local Ray head on 127.0.0.1 with 2 CPUs, shared by the whole session."""
    cluster = RayCluster.start(num_cpus=2)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def ray_driver(ray_cluster: RayCluster) -> Iterator[RayCluster]:
    """The test process connected to ``ray_cluster`` as a driver."""
    import ray

    ray.init(address=ray_cluster.address, logging_level="WARNING")
    try:
        yield ray_cluster
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def prometheus(ray_cluster: RayCluster) -> Iterator[Prometheus]:
    """A real Prometheus scraping the Ray head's metrics port every second."""
    requires.program("prometheus", requires.DEBIAN_PROMETHEUS)
    server = Prometheus.start([f"127.0.0.1:{ray_cluster.metrics_port}"])
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def multinode_cluster() -> Iterator[MultiNodeCluster]:
    """Head and two worker nodes on 127.0.0.1; the ``limited`` node in a memory cgroup.

    The cgroup is removed on every way out: the fixture's own teardown, an
    ``atexit`` hook, a SIGTERM turned into an interrupt while it lives (once the
    head starts, Ray's own SIGTERM handler takes over: it stops the nodes and
    raises ``SystemExit``, so the teardown still runs), and a sweep of what a
    killed earlier run left behind.
    """
    from tests import cgroups
    from tests.multinode import CGROUP_LIMIT, MultiNodeCluster

    why = cgroups.unusable()
    if why is not None:
        requires.missing("a cgroup memory controller writable by this user", why)
    cgroups.sweep_stale()
    cgroup = cgroups.MemoryCgroup.create(CGROUP_LIMIT)
    cluster: list[MultiNodeCluster] = []

    def cleanup() -> None:
        for item in cluster:
            item.stop()
        cluster.clear()
        cgroup.remove()

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    atexit.register(cleanup)
    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, interrupted)
    try:
        cluster.append(MultiNodeCluster.start(dict(os.environ), cgroup))
        yield cluster[0]
    finally:
        cleanup()
        atexit.unregister(cleanup)
        if previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, previous)

"""Traffic for the demo's dashboards, and the preview step of ``rayobs demo --preview``.

The demo workload makes each call once, so every counter reaches Prometheus
already at its final value and a rate over it is flat. For a preview that shows
what the panels show in production, the same bank actors and divisions are
called for a few more seconds, spread out in time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAME_FIELD = "{name}"


@dataclass(frozen=True)
class Traffic:
    """What ``drive`` did: calls made, of which failed, and the actors it keeps alive."""

    calls: int
    failed: int
    actors: tuple[Any, ...]


def drive(seconds: float, period: float = 0.2) -> Traffic:
    """Call the demo's bank actors and ``divide`` for ``seconds`` on the connected cluster.

    Each round deposits, withdraws (one refused for lack of money, one for an
    unknown account) and divides (one by zero). The returned actors keep their
    gauges exported; drop them when done.
    """
    import ray

    from rayobs.demo import workload

    bank: Any = workload.Bank  # an actor class: .remote is added by @ray.remote
    north, south = bank.remote("north"), bank.remote("south")
    ray.get([north.deposit.remote("alice", 10_000), south.deposit.remote("bob", 50)])
    calls = failed = 0
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        i += 1
        refs = [
            north.deposit.remote("alice", 5),
            north.withdraw.remote("alice", 3),
            south.withdraw.remote("bob", 10_000),  # not enough money
            workload.divide.remote(i % 7),  # zero every seventh round
        ]
        if i % 3 == 0:
            refs.append(south.withdraw.remote("mallory", 1))  # no such account
        for ref in refs:
            calls += 1
            try:
                ray.get(ref, timeout=30)
            except Exception:  # the workload's refusals and divisions by zero
                failed += 1
        time.sleep(period)
    return Traffic(calls, failed, (north, south))


def output_paths(pattern: str, names: list[str]) -> dict[str, Path]:
    """Which dashboards to preview and where: ``{name}`` in ``pattern`` means each of them.

    >>> [str(p) for p in output_paths("out/{name}.png", ["tasks", "memory"]).values()]
    ['out/tasks.png', 'out/memory.png']
    >>> [str(p) for p in output_paths("out/demo.png", ["tasks", "memory"]).values()]
    ['out/demo.png']
    """
    if NAME_FIELD in pattern:
        return {name: Path(pattern.replace(NAME_FIELD, name)) for name in names}
    return {names[0]: Path(pattern)}


@dataclass
class PreviewStep:
    """A callback for ``run_demo``: drive traffic, then render previews from its Prometheus.

    ``written`` lists the files made; it stays empty when the step never ran
    (``run_demo`` skips it when Prometheus did not start).
    """

    pattern: str
    seconds: float = 20.0
    progress: Callable[[str], None] = lambda _: None
    written: list[Path] = field(default_factory=list)

    def __call__(self, prometheus: Any) -> None:
        from rayobs.dashboards._export import render_all, shipped
        from rayobs.dashboards._plot import plot
        from rayobs.dashboards._preview import Prometheus, Window, evaluate
        from rayobs.dashboards._read import read

        started = time.time()
        self.progress(f"calling the demo actors and tasks for {self.seconds:.0f} s so rates show")
        traffic = drive(self.seconds)
        time.sleep(3.0)  # one export interval and a scrape, with margin
        rendered = {r.file_name.removesuffix(".json"): r for r in render_all(shipped())}
        window = Window.last(time.time() - started + 30, scrape_interval=1.0)
        for name, path in output_paths(self.pattern, list(rendered)).items():
            view = read(rendered[name].data)
            panels = evaluate(view, Prometheus(prometheus.url), window)
            plot(
                view.title,
                panels,
                path,
                f"rayobs demo: {traffic.calls} calls, {traffic.failed} failed on purpose; "
                f"local Prometheus scraping every 1 s",
            )
            self.written.append(path)
            self.progress(f"wrote {path}")
        del traffic  # the actors, and with them their gauges, may go now

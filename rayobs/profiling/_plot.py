"""Plot an mprof profile: total memory on top, each process below, over the same time axis.

The total (every process's RSS summed) dwarfs any single process, so the
processes get their own panel and scale: a leaking actor or a spiking task
stays visible next to a 1.5 GiB total. Uses matplotlib's Agg backend through
its object API, so plotting needs no display and never touches pyplot's global
state or a user's backend choice.
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any

from rayobs.profiling._mprof import MemoryProfile, Series

MAX_CHILD_LINES = 8  # the largest children get a line each; the rest are summed
_COLORS = ["tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink"]
_COLORS += ["tab:olive", "tab:cyan"]
_STYLES = ["-", "--", ":"]  # children often sit at similar sizes: vary more than colour


def plot_memory(
    profile: MemoryProfile,
    output: str | Path,
    *,
    title: str | None = None,
    max_children: int = MAX_CHILD_LINES,
) -> Path:
    """Write a PNG (or any format matplotlib infers from the suffix) and return its path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    scale = 60.0 if profile.duration > 600 else 1.0

    def xs(series: Series) -> list[float]:
        return [t / scale for t in series.times]

    fig = Figure(figsize=(11, 7), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.7))
    fig.suptitle(title or f"Memory over time: {_command(profile)}", fontsize=12, x=0.01, ha="left")

    total = profile.total
    top.plot(xs(total), total.mib, color="black", linewidth=2.0)
    top.set_title(
        f"all {1 + len(profile.children)} processes, RSS summed ({profile.samples} samples over "
        f"{profile.duration:,.1f} s)",
        fontsize=9.5,
        loc="left",
    )
    if total.mib:
        i = max(range(len(total.mib)), key=total.mib.__getitem__)
        x, y = total.times[i] / scale, total.mib[i]
        top.plot([x], [y], "o", color="black", markersize=4)
        # In the headroom above the curve (see _style's margins), never across it.
        top.text(
            0.99,
            0.97,
            f"peak {y:,.0f} MiB at {total.times[i]:,.1f} s",
            transform=top.transAxes,
            ha="right",
            va="top",
            fontsize=9,
        )

    main_label = profile.main.label if profile.main.pid else "main process"
    bottom.plot(
        xs(profile.main),
        profile.main.mib,
        color="tab:blue",
        linewidth=1.8,
        label=f"main: {main_label}, peak {profile.main.peak_mib:,.0f}",
    )
    for i, child in enumerate(profile.children[:max_children]):
        bottom.plot(
            xs(child),
            child.mib,
            color=_COLORS[i % len(_COLORS)],
            linestyle=_STYLES[(i // len(_COLORS)) % len(_STYLES)],
            linewidth=1.3,
            label=f"{child.label}, peak {child.peak_mib:,.0f}",
        )
    rest = profile.children[max_children:]
    if rest:
        other = _summed(rest, total)
        bottom.plot(
            xs(total),
            other,
            color="0.45",
            linewidth=1.1,
            linestyle="--",
            label=f"{len(rest)} other processes (summed), peak {max(other, default=0):,.0f}",
        )
    bottom.set_title("each process", fontsize=9.5, loc="left")
    bottom.set_xlabel("time since start (min)" if scale == 60 else "time since start (s)")
    bottom.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8.5,
        frameon=False,
        title="process (pid), peak MiB",
        title_fontsize=8.5,
        alignment="left",
    )
    for ax in (top, bottom):
        _style(ax, FuncFormatter(lambda v, _: f"{v:,.0f}"))
    out = Path(output)
    fig.savefig(out)
    return out


def _style(ax: Any, formatter: Any) -> None:
    ax.set_ylabel("resident memory (MiB)")
    ax.yaxis.set_major_formatter(formatter)
    ax.set_xlim(left=0)
    ax.margins(y=0.2)  # headroom above the highest point, for the peak label
    ax.autoscale_view()
    ax.set_ylim(0, ax.get_ylim()[1])
    ax.grid(True, color="0.9")


def _command(profile: MemoryProfile, limit: int = 80) -> str:
    """The profiled command with its program's directory dropped: ``ray start --head ...``."""
    words = profile.cmdline.split()
    if not words:
        return Path(profile.path).name
    text = " ".join([Path(words[0]).name, *words[1:]])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _summed(children: tuple[Series, ...], total: Series) -> list[float]:
    """Sum children sample by sample: each CHLD point belongs to the MEM sample before it."""
    sums = [0.0] * len(total.times)
    for child in children:
        for t, mib in zip(child.times, child.mib, strict=True):
            i = bisect.bisect_right(total.times, t) - 1
            if 0 <= i < len(sums):
                sums[i] += mib
    return sums

"""Plot an mprof profile: total memory, the main process and each child process over time.

Uses matplotlib's Agg backend (no display needed) through its object API, so
plotting never touches pyplot's global state or a user's backend choice.
"""

from __future__ import annotations

import bisect
from pathlib import Path

from rayobs.profiling._mprof import MemoryProfile, Series

MAX_CHILD_LINES = 8  # the largest children get a line each; the rest are summed


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

    minutes = profile.duration > 600
    scale = 60.0 if minutes else 1.0

    def xs(series: Series) -> list[float]:
        return [t / scale for t in series.times]

    fig = Figure(figsize=(11, 6), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    total = profile.total
    ax.plot(
        xs(total),
        total.mib,
        color="black",
        linewidth=2.2,
        label=f"total (RSS summed), peak {total.peak_mib:,.0f}",
    )
    main_label = profile.main.label if profile.main.pid else "main process"
    ax.plot(
        xs(profile.main),
        profile.main.mib,
        color="tab:blue",
        linewidth=1.6,
        label=f"main: {main_label}, peak {profile.main.peak_mib:,.0f}",
    )

    shown = profile.children[:max_children]
    colors = ["tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink"]
    colors += ["tab:olive", "tab:cyan"]
    styles = ["-", "--", ":"]  # children often sit at similar sizes: vary more than colour
    for i, child in enumerate(shown):
        ax.plot(
            xs(child),
            child.mib,
            color=colors[i % len(colors)],
            linestyle=styles[(i // len(colors)) % len(styles)],
            linewidth=1.2,
            label=f"{child.label}, peak {child.peak_mib:,.0f}",
        )
    rest = profile.children[max_children:]
    if rest:
        other = _summed(rest, total)
        ax.plot(
            xs(total),
            other,
            color="0.45",
            linewidth=1.1,
            linestyle="--",
            label=f"{len(rest)} other processes (summed), peak {max(other, default=0):,.0f}",
        )

    if total.mib:
        i = max(range(len(total.mib)), key=total.mib.__getitem__)
        ax.annotate(
            f"peak {total.mib[i]:,.0f} MiB",
            xy=(total.times[i] / scale, total.mib[i]),
            xytext=(0, 8),
            textcoords="offset points",
            ha="center",
            fontsize=9,
        )
        ax.plot([total.times[i] / scale], [total.mib[i]], "o", color="black", markersize=4)
    fig.suptitle(title or f"Memory over time: {_command(profile)}", fontsize=12, x=0.01, ha="left")
    ax.set_title(
        f"{1 + len(profile.children)} processes, {profile.samples} samples over "
        f"{profile.duration:,.1f} s",
        fontsize=9,
        color="0.35",
        loc="left",
    )
    ax.set_xlabel("time since start (min)" if minutes else "time since start (s)")
    ax.set_ylabel("resident memory (MiB)")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(True, color="0.9")
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8.5,
        frameon=False,
        title="process (pid), peak MiB",
        title_fontsize=8.5,
    )
    out = Path(output)
    fig.savefig(out)
    return out


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

"""Text and JSON views of profiles. Pure functions: data in, strings or dicts out."""

from __future__ import annotations

import re
from typing import Any

from rayobs.profiling._mprof import MemoryProfile, Series
from rayobs.profiling._pstats import CpuProfile, FunctionStats, SortKey

_SITE = re.compile(r"^.*/(?:site|dist)-packages/")
_SORT_WORDS = {
    SortKey.CUMULATIVE: "cumulative time",
    SortKey.SELF: "self time",
    SortKey.CALLS: "calls",
}


def short_location(location: str) -> str:
    """Drop the ``.../site-packages/`` prefix: ``ray/_private/worker.py:1069(main_loop)``."""
    return _SITE.sub("", location)


def cpu_to_text(
    profile: CpuProfile, rows: tuple[FunctionStats, ...], by: SortKey, match: str | None = None
) -> str:
    filtered = f" matching {match!r}" if match else ""
    lines = [
        f"cProfile stats: {profile.path}",
        f"{profile.total_calls:,} calls, {profile.total_seconds:.3f} s in profiled code; "
        f"top {len(rows)} by {_SORT_WORDS[by]}{filtered}",
        "",
        f"{'calls':>10} {'self s':>9} {'cum s':>9} {'cum/call':>9}  function",
    ]
    for f in rows:
        calls = str(f.calls) if f.calls == f.primitive_calls else f"{f.calls}/{f.primitive_calls}"
        per_call = f.cumulative_seconds / f.primitive_calls if f.primitive_calls else 0.0
        lines.append(
            f"{calls:>10} {f.self_seconds:>9.3f} {f.cumulative_seconds:>9.3f} {per_call:>9.4f}  "
            f"{short_location(f.location)}"
        )
    if not rows:
        lines.append("(no function matches)")
    return "\n".join(lines)


def cpu_to_dict(
    profile: CpuProfile, rows: tuple[FunctionStats, ...], by: SortKey, match: str | None = None
) -> dict[str, Any]:
    return {
        "kind": "cprofile",
        "path": profile.path,
        "total_calls": profile.total_calls,
        "total_seconds": round(profile.total_seconds, 6),
        "sort": by.value,
        "match": match,
        "functions": [
            {
                "location": f.location,
                "file": f.file,
                "line": f.line,
                "function": f.function,
                "calls": f.calls,
                "primitive_calls": f.primitive_calls,
                "self_seconds": round(f.self_seconds, 6),
                "cumulative_seconds": round(f.cumulative_seconds, 6),
            }
            for f in rows
        ],
    }


def _peak_at(series: Series) -> tuple[float, float]:
    if not series.mib:
        return 0.0, 0.0
    i = max(range(len(series.mib)), key=series.mib.__getitem__)
    return series.mib[i], series.times[i]


def memory_to_text(profile: MemoryProfile, top: int = 15) -> str:
    peak, at = _peak_at(profile.total)
    main_peak, _ = _peak_at(profile.main)
    main = profile.main.label if profile.main.pid else "main process"
    lines = [
        f"mprof data: {profile.path}",
        f"command:   {profile.cmdline or '(not recorded)'}",
        f"duration:  {profile.duration:.1f} s, {profile.samples} samples",
        f"peak:      {peak:,.1f} MiB in total at {at:.1f} s (RSS summed over processes)",
        f"main:      {main}, peak {main_peak:,.1f} MiB",
        f"children:  {len(profile.children)} processes seen",
    ]
    if profile.children:
        lines += ["", f"{'peak MiB':>10} {'last MiB':>10} {'seen s':>14}  process"]
        for child in profile.children[:top]:
            span = f"{child.times[0]:.1f}-{child.times[-1]:.1f}" if child.times else "-"
            last = child.mib[-1] if child.mib else 0.0
            lines.append(f"{child.peak_mib:>10,.1f} {last:>10,.1f} {span:>14}  {child.label}")
        if len(profile.children) > top:
            lines.append(f"{'':>10} ... and {len(profile.children) - top} more")
    return "\n".join(lines)


def memory_to_dict(profile: MemoryProfile, top: int | None = None) -> dict[str, Any]:
    peak, at = _peak_at(profile.total)
    children = profile.children if top is None else profile.children[:top]
    return {
        "kind": "mprof",
        "path": profile.path,
        "cmdline": profile.cmdline,
        "start_epoch": profile.start,
        "duration_seconds": profile.duration,
        "samples": profile.samples,
        "peak_mib": peak,
        "peak_at_seconds": at,
        "main": {
            "pid": profile.main.pid,
            "name": profile.main.name,
            "peak_mib": profile.main.peak_mib,
        },
        "children": [
            {
                "pid": c.pid,
                "name": c.name,
                "peak_mib": c.peak_mib,
                "last_mib": c.mib[-1] if c.mib else 0.0,
                "first_seen_seconds": c.times[0] if c.times else None,
                "last_seen_seconds": c.times[-1] if c.times else None,
                "samples": len(c.times),
            }
            for c in children
        ],
    }

"""A dashboard for the rayobs handles a user's module defines.

``rayobs dashboards build --module myapp.metrics`` imports the module, takes
every ``rayobs.Counter``/``Gauge``/``Histogram`` it defines at module level,
and gives each the panel its type calls for: a counter its rate, a gauge its
value (summed over worker processes), a histogram its quantiles and a heatmap.
Every tag key becomes a template variable.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Iterable
from types import ModuleType

from rayobs.dashboards._builtin import RATE, standard_variables
from rayobs.dashboards._model import Dashboard, Panel, PanelKind, Query, Row, Variable
from rayobs.dashboards._promql import BASE_FILTER, exported, selector, with_matchers
from rayobs.metrics import _catalog
from rayobs.metrics._spec import Kind, MetricSpec

MAX_UID = 40  # Grafana's limit for a dashboard uid
_RESERVED_VARIABLES = frozenset({"datasource", "cluster", "session"})

# Grafana unit ids for a handle's `unit`: (value, per-second rate).
_UNITS = {
    "": ("short", "cps"),
    "seconds": ("s", "short"),
    "milliseconds": ("ms", "short"),
    "bytes": ("bytes", "Bps"),
    "ratio": ("percentunit", "short"),
}


class NoHandlesError(ValueError):
    """The module defines no rayobs handles to chart."""


def handles_in(module: ModuleType) -> tuple[MetricSpec, ...]:
    """Specs of the rayobs handles defined at ``module``'s top level, in definition order.

    rayobs' own catalog metrics are left out (the shipped dashboards chart them),
    and a handle bound twice under two names is charted once.

    >>> import types, rayobs
    >>> m = types.ModuleType("m")
    >>> m.JOBS = rayobs.Counter("doc_app_jobs", "Jobs done.")
    >>> [s.name for s in handles_in(m)]
    ['doc_app_jobs']
    """
    own = {spec.name for spec in _catalog.EVERY}
    seen: dict[str, MetricSpec] = {}
    for value in vars(module).values():
        # a handle carries its spec; read it, never the runtime module that defines handles
        spec = getattr(value, "spec", None)
        if isinstance(spec, MetricSpec) and spec.name not in own:
            seen.setdefault(spec.name, spec)
    return tuple(seen.values())


def import_handles(module_name: str) -> tuple[MetricSpec, ...]:
    """Import ``module_name`` and return its handles' specs; ``NoHandlesError`` if none."""
    module = importlib.import_module(module_name)
    specs = handles_in(module)
    if not specs:
        raise NoHandlesError(
            f"module {module_name!r} defines no rayobs.Counter, Gauge or Histogram at module level"
        )
    return specs


def app_dashboard(module_name: str, specs: Iterable[MetricSpec]) -> Dashboard:
    """The dashboard for ``specs``, named after the module that defines them.

    >>> import rayobs
    >>> jobs = rayobs.Counter("doc_app_done", "Jobs done.", tag_keys=("queue",))
    >>> d = app_dashboard("myapp.metrics", [jobs.spec])
    >>> d.uid, [v.name for v in d.variables], d.panels()[0].title
    ('rayobs-app-myapp-metrics', ['cluster', 'session', 'queue'], 'doc_app_done: rate')
    """
    specs = tuple(specs)
    names = "|".join(re.escape(exported(s, "_bucket")) for s in specs)
    any_metric = f'{{__name__=~"{names}"}}'
    tag_vars = _tag_variables(specs, any_metric)
    rows = tuple(Row(spec.name, _panels(spec, tag_vars)) for spec in specs)
    slug = re.sub(r"[^a-z0-9]+", "-", module_name.lower()).strip("-")
    return Dashboard(
        uid=_uid(slug),
        title=f"rayobs / App metrics: {module_name}",
        description=f"The rayobs handles defined in {module_name}, one row per metric.",
        variables=(*standard_variables(any_metric), *tag_vars.values()),
        rows=rows,
        tags=("rayobs", "app"),
        file_name=f"app-{slug}.json",
    )


def _uid(slug: str) -> str:
    uid = f"rayobs-app-{slug}"
    if len(uid) <= MAX_UID:
        return uid
    # Long module paths: keep a readable prefix and make it unique with a hash.
    digest = hashlib.sha256(slug.encode()).hexdigest()[:8]
    return f"{uid[: MAX_UID - 9]}-{digest}"


def _tag_variables(specs: tuple[MetricSpec, ...], any_metric: str) -> dict[str, Variable]:
    """One variable per tag key, in first-seen order, named after the key."""
    out: dict[str, Variable] = {}
    for spec in specs:
        for key in spec.tag_keys:
            if key in out:
                continue
            name = f"tag_{key}" if key in _RESERVED_VARIABLES else key
            out[key] = Variable(
                name,
                key,
                with_matchers(any_metric, BASE_FILTER),
                key,
                f"Tag {key!r} of the app's metrics. All also matches samples without it.",
            )
    return out


def _panels(spec: MetricSpec, tag_vars: dict[str, Variable]) -> tuple[Panel, ...]:
    matchers = tuple(f'{key}=~"${tag_vars[key].name}"' for key in spec.tag_keys)
    by = ", ".join(spec.tag_keys)
    value_unit, rate_unit = _UNITS.get(spec.unit, ("short", "short"))
    what = spec.description.rstrip(".") + ". " if spec.description else ""
    legend = " ".join(f"{{{{{k}}}}}" for k in spec.tag_keys) or spec.name
    if spec.kind is Kind.COUNTER:
        name = exported(spec)
        expr = f"rate({selector(name, *matchers)}[{RATE}])"
        return (
            Panel(
                f"{spec.name}: rate",
                f"{what}Per second, summed over worker processes ({name}).",
                (Query(f"sum by ({by}) ({expr})" if by else f"sum({expr})", legend),),
                unit=rate_unit,
                width=24,
            ),
        )
    if spec.kind is Kind.GAUGE:
        name = exported(spec)
        expr = selector(name, *matchers)
        return (
            Panel(
                f"{spec.name}: value",
                f"{what}Current value, summed over the worker processes that set it ({name}). "
                "Ray drops a worker's series about two export intervals after it exits.",
                (Query(f"sum by ({by}) ({expr})" if by else f"sum({expr})", legend),),
                unit=value_unit,
                width=24,
            ),
        )
    buckets = exported(spec, "_bucket")
    rate = f"rate({selector(buckets, *matchers)}[{RATE}])"
    group = f"{by}, le" if by else "le"
    return (
        Panel(
            f"{spec.name}: p50 / p95 / p99",
            f"{what}Quantiles estimated from the histogram buckets ({buckets}); exact only at "
            "bucket boundaries.",
            tuple(
                Query(
                    f"histogram_quantile({q}, sum by ({group}) ({rate}))",
                    f"p{round(q * 100)} {legend}",
                )
                for q in (0.5, 0.95, 0.99)
            ),
            unit=value_unit,
        ),
        Panel(
            f"{spec.name}: distribution",
            f"{what}Observations per second in each bucket, all tag values together.",
            (Query(f"sum by (le) ({rate})", "{{le}}", heatmap=True),),
            unit=value_unit,
            kind=PanelKind.HEATMAP,
        ),
    )

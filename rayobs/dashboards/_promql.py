"""PromQL pieces shared by the dashboards: exported names, filters, variable substitution.

Every panel filters on the same template variables, so the filter is built in
one place. The substitution half is what a dashboard's consumer does with the
variables (Grafana, the PromQL proof test, ``rayobs dashboards preview``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from rayobs.metrics._spec import Kind, MetricSpec

# Ray's metrics agent prefixes every exported name; counters gain _total.
RAY_PREFIX = "ray_"

CLUSTER_LABEL = "ray_io_cluster"  # KubeRay's PodMonitors relabel ray.io/cluster into this
SESSION_LABEL = "SessionName"  # added by Ray to every sample

# The filter every panel applies: the dashboard's cluster and session variables.
# `=~` with an All value of `.*` also matches series without the label.
BASE_FILTER = f'{CLUSTER_LABEL}=~"$cluster", {SESSION_LABEL}=~"$session"'


def exported(spec: MetricSpec, suffix: str = "") -> str:
    """The name Prometheus sees for ``spec`` on the Ray backend.

    ``suffix`` picks a histogram series (``_bucket``, ``_sum``, ``_count``).

    >>> from rayobs.metrics._spec import make_spec
    >>> exported(make_spec(Kind.COUNTER, "jobs"))
    'ray_jobs_total'
    >>> exported(make_spec(Kind.HISTOGRAM, "t_seconds", boundaries=(1,), unit="seconds"), "_bucket")
    'ray_t_seconds_bucket'
    """
    name = RAY_PREFIX + spec.name
    if spec.kind is Kind.COUNTER:
        return name + "_total"
    if spec.kind is Kind.HISTOGRAM:
        return name + (suffix or "_bucket")
    return name


def selector(metric: str, *matchers: str) -> str:
    """``metric{<the dashboard filter>, <matchers>}``.

    >>> selector("ray_x_total", 'outcome="error"')
    'ray_x_total{ray_io_cluster=~"$cluster", SessionName=~"$session", outcome="error"}'
    """
    return f"{metric}{{{', '.join((BASE_FILTER, *matchers))}}}"


def with_matchers(series: str, *matchers: str) -> str:
    """Add label ``matchers`` to a metric name or a ``{...}`` selector.

    >>> with_matchers("up", 'job="a"'), with_matchers('{__name__=~"a|b"}', 'job="a"')
    ('up{job="a"}', '{__name__=~"a|b", job="a"}')
    """
    if not matchers:
        return series
    if series.endswith("}"):
        return f"{series[:-1]}, {', '.join(matchers)}}}"
    return f"{series}{{{', '.join(matchers)}}}"


_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.*),\s*(?P<label>\w+)\s*\)\s*$", re.S)


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Replace ``$name`` and ``${name}`` by ``values[name]``; unknown names stay.

    >>> substitute('rate(x{a=~"$a"}[$__rate_interval])', {"a": ".*", "__rate_interval": "1m"})
    'rate(x{a=~".*"}[1m])'
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values.get(name, match.group(0))

    return _VARIABLE.sub(replace, expr)


def variables_in(expr: str) -> set[str]:
    """Names of the template variables ``expr`` uses.

    >>> sorted(variables_in('x{a=~"$a", b=~"${b}"}[$__rate_interval]'))
    ['__rate_interval', 'a', 'b']
    """
    return {m.group(1) or m.group(2) for m in _VARIABLE.finditer(expr)}


def parse_label_values(query: str) -> tuple[str, str]:
    """Split Grafana's ``label_values(selector, label)`` into its two parts.

    >>> parse_label_values('label_values(up{job="x"}, instance)')
    ('up{job="x"}', 'instance')
    """
    match = _LABEL_VALUES.match(query)
    if match is None:
        raise ValueError(f"not a label_values(selector, label) query: {query!r}")
    return match.group("selector").strip(), match.group("label")

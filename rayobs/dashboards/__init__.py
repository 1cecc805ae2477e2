"""Grafana dashboards as code, built from rayobs' metric catalog and users' handles.

The modules here are private; the interface is the ``rayobs dashboards``
command (``build``, ``import``, ``preview``). Dashboards are described as
frozen data (``_model``), rendered to Grafana JSON with the
grafana-foundation-sdk (``_render``, imported only when rendering), read back
from JSON (``_read``) to be evaluated against Prometheus (``_preview``) and
drawn (``_plot``), and imported into Grafana with grafana-client (``_grafana``).
"""

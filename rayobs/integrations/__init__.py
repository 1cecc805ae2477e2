"""Integrations: rayobs applied to what other code creates, without that code changing.

- ``rayobs.integrations.auto``: zero-code instrumentation of every ``@ray.remote``
  function and actor class defined outside Ray and rayobs (``rayobs.auto`` is its
  public face, ``rayobs run`` its launcher).
- ``rayobs.integrations.data``: the functions and callable classes given to Ray
  Data's ``map``, ``map_batches``, ``flat_map`` and ``filter``.

Each follows OpenTelemetry's instrumentor pattern: ``instrument()`` and
``uninstrument()``, safe to call twice, every patch with its unpatch.
"""

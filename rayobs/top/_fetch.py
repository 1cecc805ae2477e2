"""Read every node's metrics endpoint at once, each under a short timeout.

One daemon thread per endpoint and one shared deadline: a node that does not
answer (down, firewalled, slow) becomes a ``Scrape`` with an error and never
holds up the others or the view.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence

from rayobs.top._expo import parse_exposition
from rayobs.top._model import Scrape

DEFAULT_TIMEOUT_S = 1.5
_MAX_BYTES = 64 * 1024 * 1024  # a runaway endpoint must not eat the laptop's memory


def endpoint_url(text: str) -> str:
    """``host:port``, ``http://host:port`` or a full URL → the URL of its metrics page.

    Raises ``ValueError`` with a one-line reason for anything else.

    >>> endpoint_url("127.0.0.1:8080")
    'http://127.0.0.1:8080/metrics'
    """
    raw = text.strip()
    if not raw:
        raise ValueError("an empty endpoint")
    url = raw if "://" in raw else f"http://{raw}"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) endpoint: {text!r}")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError(f"bad port in endpoint {text!r}") from None
    path = parts.path if parts.path not in ("", "/") else "/metrics"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _why(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code}"
    if isinstance(error, urllib.error.URLError):
        error = error.reason if isinstance(error.reason, BaseException) else error
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return "timed out"
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}"[:120] if text else type(error).__name__


def fetch_one(url: str, timeout: float = DEFAULT_TIMEOUT_S) -> Scrape:
    """One endpoint's samples, or its error; never raises."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read(_MAX_BYTES).decode("utf-8", errors="replace")
        return Scrape(url, time.monotonic(), parse_exposition(body))
    except Exception as exc:  # any failure is this endpoint's state, not the view's
        return Scrape(url, time.monotonic(), error=_why(exc))


def fetch_all(urls: Sequence[str], timeout: float = DEFAULT_TIMEOUT_S) -> tuple[Scrape, ...]:
    """Every endpoint at once; those without an answer by ``timeout`` (+ slack) are errors."""
    results: dict[int, Scrape] = {}

    def run(index: int, url: str) -> None:
        results[index] = fetch_one(url, timeout)

    threads = [
        threading.Thread(target=run, args=(i, url), name="rayobs-top-fetch", daemon=True)
        for i, url in enumerate(urls)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout + 0.5
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    late = f"no answer within {timeout:g}s"
    return tuple(
        results.get(i) or Scrape(url, time.monotonic(), error=late) for i, url in enumerate(urls)
    )

"""rayobs._extensions: what the integrations register, and how the core asks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import rayobs
from rayobs import _extensions
from rayobs.testing import capture_metrics


@pytest.fixture
def registries() -> Iterator[None]:
    """Whatever a test registers is gone afterwards."""
    saved = [
        list(hooks)
        for hooks in (
            _extensions.adapters,
            _extensions.tag_sources,
            _extensions.carrier_sources,
            _extensions.installers,
        )
    ]
    yield
    for hooks, before in zip(
        (
            _extensions.adapters,
            _extensions.tag_sources,
            _extensions.carrier_sources,
            _extensions.installers,
        ),
        saved,
        strict=True,
    ):
        hooks[:] = before


def _broken() -> dict[str, str]:
    raise RuntimeError("the framework moved")


def test_a_failing_source_counts_as_silent_and_the_first_answer_wins(registries: None) -> None:
    _extensions.register(tags=_broken)
    _extensions.register(tags=lambda: {"app": "shop", "component": "cart"})
    _extensions.register(carrier=_broken)
    assert _extensions.context_tags() == {"app": "shop", "component": "cart"}
    assert _extensions.incoming_carrier() is None
    _extensions.register(tags=_broken)  # registered once only
    assert _extensions.tag_sources.count(_broken) == 1


def test_context_tags_fill_only_what_a_call_left_unset(registries: None) -> None:
    _extensions.register(tags=lambda: {"app": "shop", "component": "cart", "zone": "x"})

    @rayobs.instrument(tags={"app": "mine"})
    def own(x: int) -> int:
        return x

    @rayobs.instrument
    def plain(x: int) -> int:
        return x

    with capture_metrics() as metrics:
        own(1)
        plain(2)
    assert metrics.value("rayobs_calls", name="own", app="mine", component="cart") == 1
    assert metrics.value("rayobs_calls", name="plain", app="shop", component="cart") == 1


def test_an_installer_that_fails_is_logged_not_raised(
    registries: None, caplog: pytest.LogCaptureFixture
) -> None:
    _extensions.register(installer=_broken)
    _extensions.install()
    assert "could not be installed" in caplog.text


def test_an_adapter_takes_what_it_knows(registries: None) -> None:
    class Marker:
        pass

    def adapter(target: object, options: object) -> object:
        return "adapted" if isinstance(target, Marker) else _extensions.NOT_MINE

    _extensions.register(adapter=adapter)
    assert rayobs.instrument(Marker()) == "adapted"
    assert callable(rayobs.instrument(lambda: 1))


def test_docstring_examples_of_the_new_modules() -> None:
    import doctest

    from rayobs.demo import _local_ray

    for module in (_extensions, _local_ray):
        failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert failed == 0, module.__name__

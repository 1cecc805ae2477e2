"""Serve applications for the Serve tests: each instrumented one has a bare twin.

Imported by the replicas too (the tests put the repository on ``PYTHONPATH``), so
Serve ships these classes by reference and every replica decorates them as here.
``@rayobs.instrument`` sits below ``@serve.deployment`` on some and above on
others; the FastAPI ingress composes two deployments through handles.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.requests import Request

import rayobs

NO_CPU = {"num_cpus": 0}  # every replica fits on the test's small node


class Scaler:
    """Scales numbers; refuses negative ones; streams counts."""

    def __init__(self, factor: float = 2.0) -> None:
        self.factor = factor

    def __call__(self, x: float) -> float:
        if x < 0:
            raise ValueError(f"cannot scale {x}")
        return self.factor * x

    def count(self, n: int) -> Iterator[int]:
        for i in range(n):
            if i == 3:
                raise RuntimeError("stream broke at 3")
            yield i


class Offset:
    """Adds one to what the scaler returns (model composition)."""

    def __init__(self, scaler: DeploymentHandle) -> None:
        self.scaler = scaler

    async def __call__(self, x: float) -> float:
        return await self.scaler.remote(x) + 1


def greet(request: Request) -> str:
    """A function deployment answering HTTP."""
    return f"hello {request.query_params.get('name', 'nobody')}"


def shout(word: str) -> str:
    """A function deployment called through a handle."""
    if not word:
        raise KeyError("empty word")
    return word.upper()


def _ingress(app: FastAPI) -> type:
    class Api:
        def __init__(self, offset: DeploymentHandle, scaler: DeploymentHandle) -> None:
            self.offset = offset
            self.scaler = scaler

        @app.get("/compute")
        async def compute(self, x: float) -> dict[str, Any]:
            return {"result": await self.offset.remote(x)}

        @app.get("/missing")
        def missing(self, key: str) -> dict[str, str]:
            raise HTTPException(status_code=404, detail=f"no {key}")

        @app.get("/stream")
        async def stream(self, n: int) -> StreamingResponse:
            counts = self.scaler.options(method_name="count", stream=True).remote(n)

            async def body() -> Any:
                try:
                    async for i in counts:
                        yield f"{i}\n"
                except Exception as exc:
                    yield f"error: {type(exc).__name__}\n"

            return StreamingResponse(body(), media_type="text/plain")

    return Api


# ---- instrumented: below @serve.deployment on Scaler and greet, above on the rest ----

InstrumentedScaler = serve.deployment(
    rayobs.instrument(type("Scaler", (Scaler,), {}), trace=True), ray_actor_options=NO_CPU
)
InstrumentedOffset = rayobs.instrument(
    serve.deployment(type("Offset", (Offset,), {}), ray_actor_options=NO_CPU), trace=True
)
api = FastAPI()
InstrumentedApi = rayobs.instrument(
    serve.deployment(serve.ingress(api)(_ingress(api)), ray_actor_options=NO_CPU), trace=True
)
instrumented_greet = serve.deployment(
    rayobs.instrument(greet, name="greet", trace=True), name="greet", ray_actor_options=NO_CPU
)
instrumented_shout = rayobs.instrument(
    serve.deployment(shout, name="shout", ray_actor_options=NO_CPU), name="shout", trace=True
)

# ---- the same code, bare ----

BareScaler = serve.deployment(Scaler, ray_actor_options=NO_CPU)
BareOffset = serve.deployment(Offset, ray_actor_options=NO_CPU)
bare_api = FastAPI()
BareApi = serve.deployment(serve.ingress(bare_api)(_ingress(bare_api)), ray_actor_options=NO_CPU)
bare_greet = serve.deployment(greet, name="greet", ray_actor_options=NO_CPU)
bare_shout = serve.deployment(shout, name="shout", ray_actor_options=NO_CPU)


def applications(instrumented: bool) -> dict[str, Any]:
    """``{route prefix: bound application}``: ``calc`` (ingress → offset → scaler),
    ``greet`` (a function over HTTP) and ``shout`` (a function through a handle)."""
    if instrumented:
        scaler = InstrumentedScaler.bind()
        calc = InstrumentedApi.bind(InstrumentedOffset.bind(scaler), scaler)
        return {
            "calc": calc,
            "greet": instrumented_greet.bind(),
            "shout": instrumented_shout.bind(),
        }
    scaler = BareScaler.bind()
    calc = BareApi.bind(BareOffset.bind(scaler), scaler)
    return {"calc": calc, "greet": bare_greet.bind(), "shout": bare_shout.bind()}

"""A Serve application measured by rayobs: an HTTP API in front of a model deployment.

``@rayobs.instrument`` above ``@serve.deployment`` (it works below too) counts
every route method of the FastAPI ingress and every call of the model, tagged
with the application and the deployment; with ``trace=True`` an HTTP request is
one trace, from its ``traceparent`` header through the model call::

    python docs/examples/serve_reviews.py          # a local Ray and Serve on 127.0.0.1:8000

Then, in Prometheus: ``sum by (component, name, outcome) (ray_rayobs_calls_total{app="reviews"})``.
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.parse
import urllib.request

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

import rayobs

api = FastAPI()


@rayobs.instrument(trace=True)
@serve.deployment(ray_actor_options={"num_cpus": 0})
class Sentiment:
    """The model: a word count stands in for inference."""

    def __call__(self, text: str) -> dict[str, str]:
        if not text.strip():
            raise ValueError("nothing to classify")
        good = sum(text.count(word) for word in ("good", "great", "loved"))
        bad = sum(text.count(word) for word in ("bad", "boring", "hated"))
        return {"label": "positive" if good >= bad else "negative"}


@rayobs.instrument(trace=True)
@serve.deployment(ray_actor_options={"num_cpus": 0})
@serve.ingress(api)
class Reviews:
    def __init__(self, model: DeploymentHandle) -> None:
        self.model = model

    @api.get("/classify")
    async def classify(self, text: str = "") -> dict[str, str]:
        return await self.model.remote(text)


app = Reviews.bind(Sentiment.bind())


def main(port: int) -> list[str]:
    """Deploy the application and classify three reviews over HTTP (the last one is empty)."""
    serve.run(app, name="reviews", route_prefix="/reviews")
    printed = []
    for text in ("a great film, loved it", "boring and bad", ""):
        query = urllib.parse.urlencode({"text": text})
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/reviews/classify?{query}") as r:
                answer = f"{r.status} {json.loads(r.read())['label']}"
        except urllib.error.HTTPError as error:
            answer = f"{error.code} {error.read().decode()}"
        printed.append(f"{text or '(empty)'}: {answer}")
        print(printed[-1])
    return printed


if __name__ == "__main__":
    import ray

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="HTTP port on 127.0.0.1")
    args = parser.parse_args()
    ray.init()
    serve.start(http_options={"host": "127.0.0.1", "port": args.port})
    try:
        main(args.port)
    finally:
        serve.shutdown()

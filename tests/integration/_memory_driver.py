"""Driver for ``rayobs memory`` on several nodes: ``python -m tests.integration._memory_driver``.

Arguments: ``ADDR ROLE=SIZE,SIZE... [ROLE=...] --lend ROLE --own SIZE,SIZE...``.
On the node of each ``ROLE`` (a custom resource) an actor ``ray.put``s one
object of each size and keeps the references; the driver ``ray.put``s its own
(``--own``) and borrows every reference of the actor on the ``--lend`` node.
It prints one ``READY`` JSON line (node, pid and object ids of each holder)
and holds everything until its stdin closes.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import ray


class Holder:
    def __init__(self, sizes: list[int]) -> None:
        self.refs = [ray.put(b"\1" * size) for size in sizes]

    def where(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "objects": [ref.hex() for ref in self.refs],
        }

    def lend(self) -> list[Any]:
        return list(self.refs)


def _sizes(text: str) -> list[int]:
    return [int(size) for size in text.split(",") if size]


def main(argv: list[str]) -> None:
    address, rest = argv[0], argv[1:]
    lend, own, placed = None, [], {}
    while rest:
        item = rest.pop(0)
        if item == "--lend":
            lend = rest.pop(0)
        elif item == "--own":
            own = _sizes(rest.pop(0))
        else:
            role, sizes = item.split("=", 1)
            placed[role] = _sizes(sizes)
    ray.init(address=address, logging_level="ERROR")
    holder = ray.remote(num_cpus=0, max_restarts=0)(Holder)
    actors = {
        role: holder.options(resources={role: 0.01}).remote(sizes) for role, sizes in placed.items()
    }
    seen = {role: ray.get(actor.where.remote(), timeout=120) for role, actor in actors.items()}
    mine = [ray.put(b"\2" * size) for size in own]
    borrowed = ray.get(actors[lend].lend.remote(), timeout=120) if lend else []
    seen["driver"] = {
        "pid": os.getpid(),
        "node_id": ray.get_runtime_context().get_node_id(),
        "objects": [ref.hex() for ref in mine],
        "borrowed": [ref.hex() for ref in borrowed],
        "actors": {role: actor._actor_id.hex() for role, actor in actors.items()},
    }
    print("READY " + json.dumps(seen), flush=True)
    sys.stdin.read()  # the references live until the test closes stdin
    del mine, borrowed, actors


if __name__ == "__main__":
    main(sys.argv[1:])

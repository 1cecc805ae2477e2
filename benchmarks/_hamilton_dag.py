"""A 50-node Hamilton dataflow for the benchmark: plain functions, written out at import.

``node_0`` takes the input; every later node reads the one before it and one
further back, so the graph has both chains and fan-in, and some parallelism for
Ray. The functions are real module functions (Ray's workers import this module).
"""

from __future__ import annotations

NODES = 50

_SOURCE = "\n".join(
    ["def node_0(seed: int) -> int:\n    return seed + 1\n"]
    + [
        f"def node_{i}(node_{i - 1}: int, node_{i // 2}: int) -> int:\n"
        f"    return (node_{i - 1} + node_{i // 2}) % 1000003\n"
        if i // 2 != i - 1
        else f"def node_{i}(node_{i - 1}: int) -> int:\n    return node_{i - 1} * 2 % 1000003\n"
        for i in range(1, NODES)
    ]
)
exec(compile(_SOURCE, __file__, "exec"))  # defines node_0 ... node_49 in this module

FINAL = [f"node_{NODES - 1}"]

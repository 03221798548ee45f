"""The workloads of DESIGN.md section 5: names, phases, orders, allocators.

The workloads themselves run in C (native/workloads.c); this is the table
the Python side validates cases against and iterates phases from.
"""

# workload -> its phases, each measured on its own, in this order
PHASES: dict[str, list[str]] = {
    "fork": ["add", "remove"],
    "walk": ["walk"],
    "churn": ["churn"],
    "guest": ["add", "remove"],
    "null": ["null"],
}
WORKLOADS = list(PHASES)
ORDERS = ["fifo", "lifo", "random"]
ALLOCS = ["bump", "slab", "scatter"]

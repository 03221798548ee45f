"""hypothesis strategies for op sequences over a few heads."""

from hypothesis import strategies as st


@st.composite
def op_sequences(draw, max_ops=120, heads=3):
    """Mostly valid sequences (adds of fresh ids, removes of present ones),
    with walks, counts, removes of absent ids and re-adds of present ids
    mixed in.  Growth is favoured so chains pass several descriptors."""
    n = draw(st.integers(1, max_ops))
    present = {h: [] for h in range(heads)}
    next_id = 1
    ops = []
    for _ in range(n):
        h = draw(st.integers(0, heads - 1))
        kind = draw(st.sampled_from(
            ["add"] * 6 + ["remove"] * 4 + ["walk", "count", "absent", "dup"]))
        if kind == "add" or (kind == "remove" and not present[h]):
            ops.append(("add", h, next_id))
            present[h].append(next_id)
            next_id += 1
        elif kind == "remove":
            s = present[h].pop(draw(st.integers(0, len(present[h]) - 1)))
            ops.append(("remove", h, s))
        elif kind == "absent":
            ops.append(("remove", h, 10_000 + draw(st.integers(0, 5))))
        elif kind == "dup" and present[h]:
            s = draw(st.sampled_from(present[h]))
            ops.append(("add", h, s))
            present[h].append(s)
        else:
            ops.append((kind if kind in ("walk", "count") else "walk", h))
    return ops

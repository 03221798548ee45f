"""An independent reference model of the pte_list variants, in Python.

Written from DESIGN.md section 3 and the seed's review, not from the C: a
head is a Python object holding either nothing, one spte id, or a list of
descriptors, each a list of EXT slots (None when empty) with the counters
the later variants keep.  It has the same face as bench.native.Rmap (add,
remove, walk, count, layout) so bench.trace.replay() can drive either one,
and the tests hold the C kernels to it slot for slot.

It is a cross-check for the tests only: the suite itself (trace, check)
runs on the C kernels and needs no Python per variant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

COUNTED = {"kvm-2021", "kvm-2023", "kvm-2023-lf"}
# the kvm-2023 operations; kvm-2023-lf walks each descriptor from its last slot down
KVM2023 = {"kvm-2023", "kvm-2023-lf"}


# the built-ins this model was written for (a later built-in need not have one)
MODELLED = ("old", "new", "new-fixed", "kvm-2021", "kvm-2023", "kvm-2023-lf")


@dataclass
class Desc:
    slots: list
    count: int = 0      # kvm-2021, kvm-2023: entries in this descriptor
    tail: int = 0       # kvm-2023: entries in all descriptors after this one

    @classmethod
    def empty(cls, ext: int) -> "Desc":
        return cls([None] * ext)

    def first_free(self) -> int:
        """Index of the first empty slot (len(slots) when full)."""
        for i, s in enumerate(self.slots):
            if s is None:
                return i
        return len(self.slots)


@dataclass
class Head:
    single: int | None = None
    descs: list[Desc] = field(default_factory=list)

    @property
    def form(self) -> str:
        if self.descs:
            return "many"
        return "empty" if self.single is None else "single"


class Model:
    """All heads of one variant at one EXT."""

    def __init__(self, variant: str, ext: int):
        if variant not in MODELLED:
            raise ValueError(f"no model for variant {variant!r}")
        self.variant = variant
        self.ext = ext
        self.heads: dict[int, Head] = {}
        self.live = 0   # descriptors allocated and not freed

    # -- helpers ------------------------------------------------------
    def head(self, h: int) -> Head:
        return self.heads.setdefault(h, Head())

    def _new_desc(self) -> Desc:
        self.live += 1
        return Desc.empty(self.ext)

    def _free_desc(self) -> None:
        self.live -= 1

    def _used(self, d: Desc) -> list[int]:
        """Slot indexes a walk visits in descriptor d."""
        if self.variant in COUNTED:
            return list(range(d.count))
        n = d.first_free()
        return list(range(n))

    def _find(self, hd: Head, s: int):
        for di, d in enumerate(hd.descs):
            for i in self._used(d):
                if d.slots[i] == s:
                    return di, i
        return None

    # -- the operations ----------------------------------------------
    def add(self, h: int, s: int) -> int:
        hd = self.head(h)
        if hd.form == "empty":
            hd.single = s
            return 0
        if hd.form == "single":
            d = self._new_desc()
            d.slots[0], d.slots[1] = hd.single, s
            d.count = 2
            hd.single, hd.descs = None, [d]
            return 1
        return getattr(self, "_add_" + self.variant.replace("-", "_"))(hd, s)

    def _add_old(self, hd: Head, s: int) -> int:
        ext, k, ret = self.ext, 0, 0
        # pass full descriptors while a next one exists, counting each
        while hd.descs[k].slots[ext - 1] is not None and k + 1 < len(hd.descs):
            k += 1
            ret += ext
        if hd.descs[k].slots[ext - 1] is not None:
            hd.descs.append(self._new_desc())   # the full one is not counted
            k += 1
        i = hd.descs[k].first_free()
        hd.descs[k].slots[i] = s
        return ret + i

    def _add_new(self, hd: Head, s: int) -> int:
        ext = self.ext
        if hd.descs[0].slots[ext - 1] is not None:
            hd.descs.insert(0, self._new_desc())
        first = hd.descs[0]
        first.slots[first.first_free()] = s
        after = first.first_free() + ext * (len(hd.descs) - 1)
        return after if self.variant == "new" else after - 1

    _add_new_fixed = _add_new

    def _add_kvm_2021(self, hd: Head, s: int) -> int:
        ext, k, ret = self.ext, 0, 0
        while hd.descs[k].count == ext:
            ret += ext
            if k + 1 == len(hd.descs):
                hd.descs.append(self._new_desc())
                k += 1
                break
            k += 1
        d = hd.descs[k]
        ret += d.count
        d.slots[d.count] = s
        d.count += 1
        return ret

    def _add_kvm_2023(self, hd: Head, s: int) -> int:
        first = hd.descs[0]
        total = first.count + first.tail
        if first.count == self.ext:
            first = self._new_desc()
            first.tail = total
            hd.descs.insert(0, first)
        first.slots[first.count] = s
        first.count += 1
        return total

    _add_kvm_2023_lf = _add_kvm_2023

    def remove(self, h: int, s: int) -> str | None:
        hd = self.head(h)
        lax = self.variant == "new"           # WARN instead of BUG
        fail = "WARN" if lax else "BUG"
        if hd.form == "empty":
            return fail
        if hd.form == "single":
            if hd.single != s:
                if lax:
                    hd.single = None          # the WARN path clears the head
                return fail
            hd.single = None
            return None
        where = self._find(hd, s)
        if where is None:
            return fail
        di, i = where
        if self.variant in ("old", "kvm-2021"):
            return self._remove_same_desc(hd, di, i)
        return self._remove_from_first(hd, di, i)

    def _remove_same_desc(self, hd: Head, di: int, i: int) -> None:
        d = hd.descs[di]
        j = self._used(d)[-1]                  # highest used slot of d
        d.slots[i], d.slots[j] = d.slots[j], None
        d.count -= 1
        if d.slots[0] is None:
            del hd.descs[di]
            self._free_desc()
        return None

    def _remove_from_first(self, hd: Head, di: int, i: int) -> str | None:
        first = hd.descs[0]
        j = self._used(first)[-1]              # last used of the first desc
        hd.descs[di].slots[i] = first.slots[j]  # move into the hole,
        first.slots[j] = None                  # then clear the source
        first.count -= 1
        if first.slots[0] is None:
            del hd.descs[0]
            self._free_desc()
            if not hd.descs and self.variant not in KVM2023:
                return "WARN"                  # the patch's WARN_ON(!next)
            return None
        if (self.variant not in KVM2023 and first.slots[1] is None
                and len(hd.descs) == 1):
            hd.single = first.slots[0]         # back to a single pointer
            hd.descs = []
            self._free_desc()
        return None

    def walk(self, h: int) -> list[int]:
        hd = self.head(h)
        if hd.form == "single":
            return [hd.single]
        if self.variant == "kvm-2023-lf":      # each desc from its last slot down
            return [d.slots[i] for d in hd.descs for i in reversed(self._used(d))]
        return [d.slots[i] for d in hd.descs for i in self._used(d)]

    def count(self, h: int) -> int:
        hd = self.head(h)
        if self.variant in KVM2023 and hd.form == "many":
            return hd.descs[0].count + hd.descs[0].tail
        return len(self.walk(h))

    def layout(self, h: int) -> dict:
        hd = self.head(h)
        out = {"head": h, "form": hd.form}
        if hd.form == "single":
            out["single"] = hd.single
        out["descs"] = [list(d.slots) for d in hd.descs]
        return out

    def live_descs(self) -> int:
        return self.live


def run_model(variant: str, ext: int, ops: list[tuple]) -> list[dict]:
    from bench.trace import replay

    return replay(Model(variant, ext), ops)
